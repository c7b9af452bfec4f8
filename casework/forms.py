"""Forms of the staff and citizen pages: input validation only; the services decide."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from banchengshi.tenancy import current_county
from casework import selectors
from casework.exchange.selectors import forward_targets
from casework.forwarding.models import ForwardMode
from casework.models import Channel, FollowUpOutcome, RatingLevel, ReplyMethod, StaffRole
from casework.workflow import Step


def _choices(queryset: Any, blank: bool = True) -> list[tuple[str, str]]:
    rows = [(row.code, row.name) for row in queryset]
    return [("", "—"), *rows] if blank else rows


def department_choices() -> list[tuple[str, str]]:
    """The departments to pick one of ("—" for none): read once for every form of a page that needs them."""
    return _choices(selectors.department_list())


# The keyboard a phone opens: the phone keypad for a phone number, digits for its last 4, capitals
# without autocorrect for a tracking code.
PHONE_INPUT = forms.TelInput(attrs={"inputmode": "tel", "autocomplete": "tel"})
LAST4_INPUT = forms.TextInput(
    attrs={"maxlength": "4", "inputmode": "numeric", "pattern": "[0-9]{4}", "autocomplete": "off"}
)
TRACKING_CODE_INPUT = forms.TextInput(
    attrs={"autocapitalize": "characters", "autocomplete": "off", "autocorrect": "off", "spellcheck": "false"}
)


class IntakeForm(forms.Form):
    matter = forms.CharField(label=_("matter"), max_length=200)
    description = forms.CharField(label=_("what happened"), max_length=5000, widget=forms.Textarea(attrs={"rows": 4}))
    citizen_name = forms.CharField(label=_("citizen name"), max_length=64)
    citizen_phone = forms.CharField(label=_("citizen phone"), max_length=32, widget=PHONE_INPUT)
    company_name = forms.CharField(label=_("company"), max_length=128, required=False)
    kind = forms.ChoiceField(label=_("request kind"))
    departments = forms.MultipleChoiceField(
        label=_("departments involved"), required=False, widget=forms.CheckboxSelectMultiple
    )
    # One key per form shown: a double click or the browser sending the form again registers one
    # case (the registration's Idempotency-Key; a refused submission stores no key).
    submission = forms.CharField(widget=forms.HiddenInput, required=False, max_length=128)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("submission", uuid.uuid4().hex)
        self.fields["kind"].choices = _choices(selectors.request_kind_list(), blank=False)  # type: ignore[attr-defined]
        self.fields["departments"].choices = _choices(selectors.department_list(), blank=False)  # type: ignore[attr-defined]


class StaffIntakeForm(IntakeForm):
    channel = forms.ChoiceField(label=_("channel"), choices=Channel.choices)
    window = forms.ChoiceField(label=_("window"), required=False)
    category = forms.ChoiceField(label=_("category"), required=False)
    is_urgent = forms.BooleanField(label=_("urgent"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["window"].choices = _choices(selectors.window_list())  # type: ignore[attr-defined]
        self.fields["category"].choices = _choices(selectors.category_list())  # type: ignore[attr-defined]


class _Versioned(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class NoteForm(_Versioned):
    note = forms.CharField(label=_("note"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class RequiredNoteForm(_Versioned):
    note = forms.CharField(label=_("note"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class ReasonForm(_Versioned):
    reason = forms.CharField(label=_("reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class AssignForm(_Versioned):
    lead_department = forms.ChoiceField(label=_("Lead (主办)"))
    co_departments = forms.MultipleChoiceField(
        label=_("Co-handler (协办)"), required=False, widget=forms.CheckboxSelectMultiple
    )
    instructions = forms.CharField(
        label=_("instructions"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        departments = _choices(selectors.department_list(), blank=False)
        self.fields["lead_department"].choices = departments  # type: ignore[attr-defined]
        self.fields["co_departments"].choices = departments  # type: ignore[attr-defined]


class CoHandlersForm(_Versioned):
    co_departments = forms.MultipleChoiceField(label=_("Co-handler (协办)"), widget=forms.CheckboxSelectMultiple)
    instructions = forms.CharField(
        label=_("instructions"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["co_departments"].choices = _choices(selectors.department_list(), blank=False)  # type: ignore[attr-defined]


class ClassifyForm(_Versioned):
    kind = forms.ChoiceField(label=_("request kind"), required=False)
    category = forms.ChoiceField(label=_("category"), required=False)
    cause = forms.ChoiceField(label=_("cause"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = _choices(selectors.request_kind_list())  # type: ignore[attr-defined]
        self.fields["category"].choices = _choices(selectors.category_list())  # type: ignore[attr-defined]
        self.fields["cause"].choices = _choices(selectors.cause_list())  # type: ignore[attr-defined]


class EscalateForm(ReasonForm):
    level = forms.CharField(label=_("escalated to"), max_length=64)


class AnswerForm(_Versioned):
    answer = forms.CharField(label=_("answer"), max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))


class ReplyForm(_Versioned):
    method = forms.ChoiceField(label=_("method"), choices=ReplyMethod.choices)
    content = forms.CharField(label=_("content"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))


class FollowUpForm(_Versioned):
    outcome = forms.ChoiceField(label=_("outcome"), choices=FollowUpOutcome.choices)
    rating_level = forms.TypedChoiceField(
        label=_("rating"), choices=[("", "—"), *RatingLevel.choices], coerce=int, required=False, empty_value=None
    )
    note = forms.CharField(label=_("note"), required=False, max_length=2000)


class ForwardForm(ReasonForm):
    """跨域通办: one county (or, 多地联办, a lead and co-handling counties) and the mode."""

    mode = forms.ChoiceField(label=_("mode"), choices=ForwardMode.choices)
    target = forms.ChoiceField(label=_("county that handles it"))
    co_targets = forms.MultipleChoiceField(label=_("co-handling counties (多地联办)"), required=False)
    with_attachments = forms.BooleanField(label=_("send the case's attachments"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        counties = [(c.code, f"{c.province} {c.name}") for c in forward_targets(source_code=current_county().code)]
        self.fields["target"].choices = counties  # type: ignore[attr-defined]
        self.fields["co_targets"].choices = counties  # type: ignore[attr-defined]


STEP_FORMS: dict[Step, type[forms.Form]] = {
    Step.ACCEPT: NoteForm,
    Step.NOT_ACCEPT: ReasonForm,
    Step.ACCEPT_AND_ASSIGN: AssignForm,
    Step.CLASSIFY: ClassifyForm,
    Step.ASSIGN: AssignForm,
    Step.REQUEST_MATERIALS: RequiredNoteForm,
    Step.MATERIALS_RECEIVED: NoteForm,
    Step.ESCALATE: EscalateForm,
    Step.ESCALATION_ANSWER: AnswerForm,
    Step.REPLY: ReplyForm,
    Step.FOLLOW_UP: FollowUpForm,
    Step.ARCHIVE: NoteForm,
    Step.WITHDRAW: ReasonForm,
    Step.FORWARD: ForwardForm,
    Step.RECALL_FORWARD: ReasonForm,
    Step.ADD_CO_HANDLERS: CoHandlersForm,
}


class ExtensionRequestForm(forms.Form):
    working_days = forms.IntegerField(label=_("extra working days"), min_value=1, max_value=30)
    reason = forms.CharField(label=_("reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class ExtensionDecisionForm(forms.Form):
    approve = forms.TypedChoiceField(
        label=_("Decision"), choices=[("1", _("Approved")), ("0", _("Refused"))], coerce=lambda v: v == "1"
    )
    note = forms.CharField(label=_("note"), required=False, max_length=2000)


class AssignmentResultForm(forms.Form):
    text = forms.CharField(label=_("result"), max_length=5000, widget=forms.Textarea(attrs={"rows": 3}))


class FindingForm(forms.Form):
    title = forms.CharField(label=_("title"), max_length=200)
    cause = forms.ChoiceField(label=_("cause"))
    department = forms.ChoiceField(label=_("department"))
    required_change = forms.CharField(
        label=_("what must change"), max_length=5000, widget=forms.Textarea(attrs={"rows": 2})
    )
    due_date = forms.DateField(label=_("due date"), widget=forms.DateInput(attrs={"type": "date"}))
    case_numbers = forms.CharField(label=_("case numbers (comma-separated)"), max_length=2000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["cause"].choices = _choices(selectors.cause_list(), blank=False)  # type: ignore[attr-defined]
        self.fields["department"].choices = _choices(selectors.department_list(), blank=False)  # type: ignore[attr-defined]


class FindingActionForm(forms.Form):
    description = forms.CharField(label=_("action taken"), max_length=5000, widget=forms.Textarea(attrs={"rows": 2}))
    rectified = forms.BooleanField(label=_("Rectification complete"), required=False)


class LookBackForm(forms.Form):
    held = forms.TypedChoiceField(
        label=_("the fix held"), choices=[("1", _("Yes")), ("0", _("No"))], coerce=lambda v: v == "1"
    )
    note = forms.CharField(label=_("note"), required=False, max_length=5000)


class StaffRoleForm(forms.Form):
    """A staff member's role; ``departments`` (from :func:`department_choices`) when a page shows one per person."""

    role = forms.ChoiceField(label=_("role"), choices=StaffRole.choices)
    department = forms.ChoiceField(label=_("department"), required=False)

    def __init__(self, *args: Any, departments: list[tuple[str, str]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["department"].choices = department_choices() if departments is None else departments  # type: ignore[attr-defined]


class StaffCreateForm(StaffRoleForm):
    username = forms.CharField(label=_("username"), max_length=150)
    name = forms.CharField(label=_("name"), max_length=64)
    password = forms.CharField(label=_("initial password"), max_length=128, widget=forms.PasswordInput)

    field_order = ["username", "name", "role", "department", "password"]


class TrackForm(forms.Form):
    tracking_code = forms.CharField(label=_("tracking code"), max_length=16, widget=TRACKING_CODE_INPUT)
    phone_last4 = forms.RegexField(
        label=_("Last 4 digits of your phone"),
        regex=r"^[0-9]{4}$",
        error_messages={"invalid": _("Enter the last 4 digits of the phone number you gave.")},
        widget=LAST4_INPUT,
    )


class RateForm(TrackForm):
    level = forms.TypedChoiceField(label=_("rating"), choices=RatingLevel.choices, coerce=int)
    comment = forms.CharField(label=_("comment"), required=False, max_length=2000)
