"""The case workflow as data: each step, the action it needs, and the statuses it may start from.

Services enforce it; pages use it to offer only the steps that are possible now.
"""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from casework.models import OPEN_STATUSES, AssignmentStatus, Case, CaseStatus, StaffProfile, StaffRole
from casework.policy import Action, may

S = CaseStatus


class Step(StrEnum):
    ACCEPT = "accept"
    NOT_ACCEPT = "not_accept"
    ACCEPT_AND_ASSIGN = "accept_and_assign"
    CLASSIFY = "classify"
    ASSIGN = "assign"
    REQUEST_MATERIALS = "request_materials"
    MATERIALS_RECEIVED = "materials_received"
    ESCALATE = "escalate"
    ESCALATION_ANSWER = "escalation_answer"
    REPLY = "reply"
    FOLLOW_UP = "follow_up"
    ARCHIVE = "archive"
    WITHDRAW = "withdraw"
    FORWARD = "forward"
    RECALL_FORWARD = "recall_forward"
    ADD_CO_HANDLERS = "add_co_handlers"


WORKING = frozenset({S.ACCEPTED, S.ASSIGNED, S.PROCESSED, S.REOPENED})

STEPS: dict[Step, tuple[Action, frozenset[CaseStatus]]] = {
    Step.ACCEPT: (Action.ACCEPT, frozenset({S.REGISTERED})),
    Step.NOT_ACCEPT: (Action.ACCEPT, frozenset({S.REGISTERED})),
    Step.ACCEPT_AND_ASSIGN: (Action.ACCEPT, frozenset({S.REGISTERED})),
    Step.CLASSIFY: (Action.CLASSIFY, OPEN_STATUSES),
    Step.ASSIGN: (Action.ASSIGN, frozenset({S.ACCEPTED, S.REOPENED})),
    # While the lead works: another department joins (a co-handler returned its part, say).
    Step.ADD_CO_HANDLERS: (Action.ASSIGN, frozenset({S.ASSIGNED})),
    Step.REQUEST_MATERIALS: (Action.PAUSE, WORKING),
    Step.MATERIALS_RECEIVED: (Action.PAUSE, frozenset({S.WAITING_MATERIALS})),
    Step.ESCALATE: (Action.ESCALATE, WORKING),
    Step.ESCALATION_ANSWER: (Action.ESCALATE, frozenset({S.ESCALATED})),
    Step.REPLY: (Action.REPLY, frozenset({S.ACCEPTED, S.PROCESSED, S.REOPENED})),
    Step.FOLLOW_UP: (Action.FOLLOW_UP, frozenset({S.REPLIED})),
    Step.ARCHIVE: (Action.ARCHIVE, frozenset({S.FOLLOWED_UP, S.NOT_ACCEPTED})),
    Step.WITHDRAW: (Action.WITHDRAW, OPEN_STATUSES - {S.FORWARDING}),
    # Before any department of this county has it: a forwarded case is handled in one place.
    Step.FORWARD: (Action.FORWARD, frozenset({S.REGISTERED, S.ACCEPTED, S.REOPENED})),
    # Until the other county decides: it takes effect there only if the forward is still waiting.
    Step.RECALL_FORWARD: (Action.FORWARD, frozenset({S.FORWARDING})),
}

STEP_LABELS = {
    Step.ACCEPT: _("Accept"),
    Step.NOT_ACCEPT: _("Do not accept"),
    Step.ACCEPT_AND_ASSIGN: _("Accept and assign at once"),
    Step.CLASSIFY: _("Classify"),
    Step.ASSIGN: _("Assign to departments"),
    Step.REQUEST_MATERIALS: _("Ask for materials"),
    Step.MATERIALS_RECEIVED: _("Materials received"),
    Step.ESCALATE: _("Escalate"),
    Step.ESCALATION_ANSWER: _("Record the answer from above"),
    Step.REPLY: _("Reply to the citizen"),
    Step.FOLLOW_UP: _("Follow-up call"),
    Step.ARCHIVE: _("Archive"),
    Step.WITHDRAW: _("Withdrawn by the citizen"),
    Step.FORWARD: _("Forward to another county"),
    Step.RECALL_FORWARD: _("Recall the forward"),
    Step.ADD_CO_HANDLERS: _("Add co-handlers"),
}


def allowed_from(step: Step) -> frozenset[CaseStatus]:
    return STEPS[step][1]


def steps_for(profile: StaffProfile | None, case: Case) -> list[Step]:
    """The steps this person may take on this case right now."""
    if profile is None:
        return []
    handler_has_work = profile.role != StaffRole.DEPARTMENT_HANDLER or any(
        a.department_id == profile.department_id and a.status == AssignmentStatus.PENDING
        for a in case.assignments.all()
    )
    return [
        step
        for step, (action, statuses) in STEPS.items()
        if case.status in statuses and may(profile, action) and handler_has_work
    ]
