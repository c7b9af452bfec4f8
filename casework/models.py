"""A county's casework data. Every table here lives in the county's own schema."""

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Least
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from banchengshi.personal_data import BlindIndexField, EncryptedTextField

# The associated data of the sealed phone and the key of its search hash (ADR 14).
CITIZEN_PHONE_PURPOSE = "casework.case.citizen_phone"
# What replaces text removed at the end of the retention period (casework.retention): stored
# data, the same in every language.
ANONYMISED = "[anonymised]"


class ReferenceData(models.Model):
    """Configured lists (windows, departments...): identified by a code, deactivated rather than deleted."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=128)
    is_active = models.BooleanField(_("active"), default=True)
    sort_order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        abstract = True
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return self.name


class WindowLevel(models.TextChoices):
    COUNTY_HALL = "county_hall", _("County government service centre")
    SUB_CENTRE = "sub_centre", _("Sub-centre")
    STREET = "street", _("Street service centre")
    TOWNSHIP = "township", _("Township service centre")
    VILLAGE = "village", _("Village or community service station")


class Window(ReferenceData):
    """A service window where a problem can be registered (the "办不成事" window and its peers)."""

    level = models.CharField(_("level"), max_length=20, choices=WindowLevel.choices)

    class Meta(ReferenceData.Meta):
        verbose_name = _("window")
        verbose_name_plural = _("windows")


class Department(ReferenceData):
    short_name = models.CharField(_("short name"), max_length=32, blank=True)
    # The office that runs the window (政管办 / 政数局 / 行政审批服务局) supervises every case.
    runs_window = models.BooleanField(_("runs the window"), default=False)

    class Meta(ReferenceData.Meta):
        verbose_name = _("department")
        verbose_name_plural = _("departments")


class RequestKind(ReferenceData):
    """咨询 / 办件 / 求助 / 投诉, as the county configures them."""

    class Meta(ReferenceData.Meta):
        verbose_name = _("request kind")
        verbose_name_plural = _("request kinds")


class Category(ReferenceData):
    description = models.CharField(_("description"), max_length=255, blank=True)

    class Meta(ReferenceData.Meta):
        verbose_name = _("category")
        verbose_name_plural = _("categories")


class CauseSide(models.TextChoices):
    CITIZEN = "citizen", _("Citizen side")
    DEPARTMENT = "department", _("Department side")
    CONDUCT = "conduct", _("Staff conduct")


class Cause(ReferenceData):
    """Why a matter could not be done; feeds the rectification ledger."""

    side = models.CharField(_("side"), max_length=20, choices=CauseSide.choices)

    class Meta(ReferenceData.Meta):
        verbose_name = _("cause")
        verbose_name_plural = _("causes")


class StaffRole(models.TextChoices):
    WINDOW_CLERK = "window_clerk", _("Window clerk")
    DEPARTMENT_HANDLER = "department_handler", _("Department handler")
    SUPERVISOR = "supervisor", _("Supervisor")
    LEADER = "leader", _("Leader")
    AUDITOR = "auditor", _("Auditor")
    COUNTY_ADMIN = "county_admin", _("County administrator")


class StaffProfile(models.Model):
    """What a county staff account may do in casework; a handler belongs to one department."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile")
    role = models.CharField(_("role"), max_length=24, choices=StaffRole.choices)
    department = models.ForeignKey(
        Department, verbose_name=_("department"), on_delete=models.PROTECT, null=True, blank=True
    )

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(role="department_handler") | models.Q(department__isnull=False),
                name="handler_has_department",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()})"


class CaseStatus(models.TextChoices):
    REGISTERED = "registered", _("Registered")
    ACCEPTED = "accepted", _("Accepted")
    NOT_ACCEPTED = "not_accepted", _("Not accepted")
    ASSIGNED = "assigned", _("Assigned to departments")
    PROCESSED = "processed", _("Handled by departments")
    WAITING_MATERIALS = "waiting_materials", _("Waiting for materials")
    ESCALATED = "escalated", _("Escalated")
    REPLIED = "replied", _("Replied")
    FOLLOWED_UP = "followed_up", _("Followed up")
    REOPENED = "reopened", _("Reopened")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    ARCHIVED = "archived", _("Archived")
    # 跨域通办: waiting for another county to take the case over, then handed over to it.
    FORWARDING = "forwarding", _("Being forwarded to another county")
    FORWARDED = "forwarded", _("Forwarded to another county")


OPEN_STATUSES = frozenset(
    {
        CaseStatus.REGISTERED,
        CaseStatus.ACCEPTED,
        CaseStatus.ASSIGNED,
        CaseStatus.PROCESSED,
        CaseStatus.WAITING_MATERIALS,
        CaseStatus.ESCALATED,
        CaseStatus.REOPENED,
        CaseStatus.FORWARDING,
    }
)


# Which statuses each of a case's clocks runs in: acceptance until the case is accepted, reply
# until the citizen is answered, resolution until the lead department is done; none while waiting
# for the citizen's materials. A case being forwarded keeps its clocks until the other county
# takes it over (跨域通办). The same sets decide what the deadline index tracks
# (``casework.services._deadline_index_update``) and what ``Case.next_due_at`` holds.
ACCEPTANCE_RUNNING = frozenset({CaseStatus.REGISTERED})
REPLY_RUNNING = frozenset(
    {
        CaseStatus.REGISTERED,
        CaseStatus.ACCEPTED,
        CaseStatus.ASSIGNED,
        CaseStatus.PROCESSED,
        CaseStatus.REOPENED,
        CaseStatus.ESCALATED,
        CaseStatus.FORWARDING,
    }
)
RESOLUTION_RUNNING = REPLY_RUNNING - {CaseStatus.PROCESSED}

# Each clock: the statuses it runs in and the field holding its deadline.
# Sorted, so the SQL text (and the migration that freezes it) is the same in every process.
CASE_CLOCKS = (
    (tuple(sorted(ACCEPTANCE_RUNNING)), "accept_due_at"),
    (tuple(sorted(REPLY_RUNNING)), "reply_due_at"),
    (tuple(sorted(RESOLUTION_RUNNING)), "resolution_due_at"),
)


def case_next_due() -> Least:
    """The earliest deadline among the case's running clocks; NULL when none runs or has a deadline.

    PostgreSQL's LEAST ignores NULLs, so a clock that is stopped or has no rule does not count.
    A case is late exactly when this is before now. Only comparisons of the status with constants
    and LEAST over timestamptz columns: immutable, as a generated column requires.
    """
    running = [
        models.Case(models.When(status__in=statuses, then=models.F(deadline)), output_field=models.DateTimeField())
        for statuses, deadline in CASE_CLOCKS
    ]
    return Least(*running, output_field=models.DateTimeField())


class Channel(models.TextChoices):
    WINDOW = "window", _("Window")
    HOTLINE = "hotline_12345", _("12345 hotline")
    ONLINE = "online", _("Online")
    PROXY = "proxy", _("Assisted (帮代办)")
    HOME_VISIT = "home_visit", _("Home visit")
    CROSS_REGION = "cross_region", _("Forwarded from another county (跨域通办)")


class CaseSequence(models.Model):
    """The last case number given out per year; incremented under a row lock, so numbers never clash."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class Case(models.Model):
    """A matter a citizen or company could not get done, from registration to archive."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(_("case number"), max_length=24, unique=True)
    tracking_code = models.CharField(_("tracking code"), max_length=12, unique=True)
    matter = models.CharField(_("matter"), max_length=200)
    description = models.TextField(_("what happened"))
    citizen_name = models.CharField(_("citizen name"), max_length=64)
    # Sealed at rest (AES-256-GCM); searched by exact match through its keyed hash (ADR 14).
    citizen_phone = EncryptedTextField(_("citizen phone"), purpose=CITIZEN_PHONE_PURPOSE)
    citizen_phone_index = BlindIndexField(source="citizen_phone", purpose=CITIZEN_PHONE_PURPOSE)
    company_name = models.CharField(_("company"), max_length=128, blank=True)
    window = models.ForeignKey(Window, verbose_name=_("window"), on_delete=models.PROTECT, null=True, blank=True)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    kind = models.ForeignKey(RequestKind, verbose_name=_("request kind"), on_delete=models.PROTECT)
    category = models.ForeignKey(Category, verbose_name=_("category"), on_delete=models.PROTECT, null=True, blank=True)
    cause = models.ForeignKey(Cause, verbose_name=_("cause"), on_delete=models.PROTECT, null=True, blank=True)
    departments_involved = models.ManyToManyField(
        Department, verbose_name=_("departments involved"), related_name="cases_involved", blank=True
    )
    is_urgent = models.BooleanField(_("urgent"), default=False)
    status = models.CharField(_("status"), max_length=20, choices=CaseStatus.choices, default=CaseStatus.REGISTERED)
    paused_from = models.CharField(max_length=20, choices=CaseStatus.choices, blank=True)
    # Bumped by every change; a write naming an older version is refused (409), so two clerks
    # acting on the same case at once cannot both win.
    version = models.PositiveIntegerField(default=1)
    reopen_count = models.PositiveSmallIntegerField(default=0)
    escalation_level = models.CharField(_("escalated to"), max_length=64, blank=True)
    # A case another county forwarded here: that county's division code and the forward's id,
    # which both counties' records share (see casework.forwarding).
    forwarded_from = models.CharField(_("forwarded from"), max_length=6, blank=True)
    forward_id = models.UUIDField(null=True, blank=True, unique=True)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    registered_at = models.DateTimeField(_("registered at"), default=timezone.now)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    replied_at = models.DateTimeField(_("replied at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    # Filled from the county's deadline rules by the SLA engine (sla.selectors.case_deadlines).
    accept_due_at = models.DateTimeField(_("acceptance due"), null=True, blank=True)
    reply_due_at = models.DateTimeField(_("reply due"), null=True, blank=True)
    resolution_due_at = models.DateTimeField(_("resolution due"), null=True, blank=True)
    # 回访: runs from the reply.
    follow_up_due_at = models.DateTimeField(_("follow-up due"), null=True, blank=True)
    # Past the loaded national calendar the due times are estimates (plain weekdays).
    deadline_provisional = models.BooleanField(_("provisional deadline"), default=False)
    # The earliest deadline among the running clocks (``case_next_due``), kept by PostgreSQL on
    # every write: the overdue filter and the supervisor's queue read it through one index (ADR 22).
    # Never written by the application. After ``save()`` the database's new value is not read back;
    # ``save()`` below forgets the old one, so a read loads it again rather than show it stale.
    # ``null=True`` on the field itself, not only on its output field: Django reads nullability from
    # it, and without it ``exclude(next_due_at__lt=…)`` would drop the cases with no running clock.
    next_due_at = models.GeneratedField(
        expression=case_next_due(), output_field=models.DateTimeField(null=True), db_persist=True, null=True
    )
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_seconds = models.PositiveIntegerField(default=0)
    # The office time each clock was paused for ({"reply": seconds, ...}): a pause that began after
    # a clock's deadline does not move it, so waiting for materials never erases lateness.
    clock_paused_seconds = models.JSONField(default=dict, blank=True)
    extended_days = models.PositiveSmallIntegerField(_("extension in working days"), default=0)
    # 重办 starts the clocks again from the reopening; otherwise they run from registration.
    clocks_started_at = models.DateTimeField(null=True, blank=True)
    # Personal data removed once the county's retention period after closing ran out (casework.retention).
    anonymised_at = models.DateTimeField(_("anonymised at"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        ordering = ["-registered_at"]
        indexes = [
            models.Index(fields=["status", "-registered_at"], name="case_status_registered"),
            models.Index(fields=["-registered_at"], name="case_registered"),
            # A rare channel (online, 帮代办) would otherwise be found by walking the newest cases.
            models.Index(fields=["channel", "-registered_at"], name="case_channel_registered"),
            models.Index(fields=["citizen_phone_index"], name="case_phone_index"),
            models.Index(fields=["citizen_name"], name="case_citizen_name", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["resolution_due_at"], name="case_resolution_due"),
            # The overdue filter (``next_due_at < now``: a range at the start) and the queues' order
            # (``next_due_at ASC NULLS LAST, registered_at DESC, id``, which an ascending column
            # keeps by default): a queue page is the first rows of this index. Open cases only, so
            # it stays as small as the work in hand, however many cases a county closed. The first
            # arm adds no row (a running clock means an open case) but lets PostgreSQL see that
            # ``next_due_at < now`` alone may use the index; the second, that the queues may.
            models.Index(
                fields=["next_due_at", "-registered_at", "id"],
                name="case_next_due",
                condition=models.Q(next_due_at__isnull=False) | models.Q(status__in=sorted(OPEN_STATUSES)),
            ),
            # Closed cases still holding personal data: what the retention sweep looks at.
            models.Index(
                fields=["closed_at"],
                name="case_retention_due",
                condition=models.Q(closed_at__isnull=False, anonymised_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return self.number

    def save(self, *args: Any, **kwargs: Any) -> None:
        updating = not self._state.adding
        super().save(*args, **kwargs)
        if updating:
            # PostgreSQL recomputed ``next_due_at``; an INSERT reads it back, an UPDATE does not.
            self.__dict__.pop("next_due_at", None)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


EVENT_LABELS = {
    "registered": _("Registered"),
    "accepted": _("Accepted"),
    "not_accepted": _("Not accepted"),
    "classified": _("Classified"),
    "assigned": _("Assigned to departments"),
    "assignment_done": _("A department finished its part"),
    "assignment_returned": _("A department returned the case"),
    "co_handlers_added": _("Co-handlers added"),
    "materials_requested": _("Asked for materials"),
    "materials_received": _("Materials received"),
    "escalated": _("Escalated"),
    "escalation_answered": _("Answer from above recorded"),
    "replied": _("Replied"),
    "followed_up": _("Followed up"),
    "rated": _("Rated by the citizen"),
    "archived": _("Archived"),
    "withdrawn": _("Withdrawn"),
    "attachment_added": _("Attachment added"),
    "finding_raised": _("Entered in the rectification ledger"),
    "deadlines_recomputed": _("Deadlines recomputed with the loaded calendar"),
    "deadline_warning": _("Deadline warning: one working day left"),
    "overdue": _("Overdue"),
    "escalated_for_lateness": _("Escalated for lateness"),
    "extension_requested": _("Extension requested"),
    "extension_approved": _("Extension approved"),
    "extension_refused": _("Extension refused"),
    "forwarded": _("Forwarded to another county"),
    "forward_accepted": _("The other county took the case over"),
    "forward_returned": _("The other county returned the case"),
    "forward_recall_requested": _("Asked the other county to give the case back"),
    "forward_recalled": _("The case came back from the other county at our request"),
    "forward_progress": _("Progress in the other county"),
    "joint_lead_returned": _("多地联办: the lead county returned the case"),
    "joint_lead_recalled": _("多地联办: the case was recalled from the lead county"),
    "anonymised": _("Personal data removed after the retention period"),
}


class CaseEvent(models.Model):
    """One line of a case's timeline. Append-only: the database refuses updates and deletes."""

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    actor_label = models.CharField(max_length=64)
    action = models.CharField(max_length=40)
    from_status = models.CharField(max_length=20, choices=CaseStatus.choices, blank=True)
    to_status = models.CharField(max_length=20, choices=CaseStatus.choices, blank=True)
    note = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["case", "at"], name="case_event_case_at")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.action}"

    @property
    def action_display(self) -> str:
        return str(EVENT_LABELS.get(self.action, self.action))


class IntakeKey(models.Model):
    """A client's ``Idempotency-Key`` on a registration: its retry finds this case instead of making another.

    Keys are per sender (``scope``: a staff user, a connected system, or citizens) in this county's
    schema; the unique constraint makes two concurrent requests with one key register one case.
    Only a keyed hash of the request is kept, never the request: it holds personal data.
    """

    scope = models.CharField(max_length=64)
    key = models.CharField(max_length=128)
    fingerprint = models.CharField(max_length=64)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    # Purged after CASEWORK_INTAKE_KEY_DAYS (casework.intake_keys_purge, nightly).
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="one_case_per_intake_key")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"


class AssignmentRole(models.TextChoices):
    LEAD = "lead", _("Lead (主办)")
    CO_HANDLER = "co_handler", _("Co-handler (协办)")


class AssignmentStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DONE = "done", _("Done")
    RETURNED = "returned", _("Returned")
    WITHDRAWN = "withdrawn", _("Withdrawn")


class Assignment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="assignments")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="assignments")
    role = models.CharField(_("role"), max_length=12, choices=AssignmentRole.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=AssignmentStatus.choices, default=AssignmentStatus.PENDING
    )
    instructions = models.TextField(_("instructions"), blank=True)
    result = models.TextField(_("result"), blank=True)
    return_reason = models.TextField(_("reason for return"), blank=True)
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assigned_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    finished_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    due_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["assigned_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["case", "department"], condition=models.Q(status="pending"), name="one_pending_per_department"
            ),
            models.UniqueConstraint(
                fields=["case"], condition=models.Q(status="pending", role="lead"), name="one_pending_lead"
            ),
        ]
        indexes = [models.Index(fields=["department", "status", "assigned_at"], name="assignment_department_queue")]

    def __str__(self) -> str:
        return f"{self.case_id} → {self.department_id}"


class ExtensionStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    REFUSED = "refused", _("Refused")


class ExtensionRequest(models.Model):
    """延期: a department asks for more working days before the deadline; a supervisor decides."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="extensions")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, null=True, blank=True)
    working_days = models.PositiveSmallIntegerField(_("extra working days"))
    reason = models.TextField(_("reason"))
    status = models.CharField(
        _("status"), max_length=12, choices=ExtensionStatus.choices, default=ExtensionStatus.PENDING
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["requested_at"]
        constraints = [
            models.UniqueConstraint(fields=["case"], condition=models.Q(status="pending"), name="one_pending_extension")
        ]

    def __str__(self) -> str:
        return f"{self.case_id} +{self.working_days}"


class ReplyMethod(models.TextChoices):
    PHONE = "phone", _("Phone")
    SMS = "sms", _("SMS")
    IN_PERSON = "in_person", _("In person")
    WRITTEN = "written", _("Written")


class Reply(models.Model):
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="replies")
    method = models.CharField(_("method"), max_length=12, choices=ReplyMethod.choices)
    content = models.TextField(_("content"))
    replied_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    replied_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["replied_at"]

    def __str__(self) -> str:
        return f"{self.case_id} {self.method}"


class FollowUpOutcome(models.TextChoices):
    SOLVED = "solved", _("Solved")
    NOT_SOLVED = "not_solved", _("Not solved")


class FollowUp(models.Model):
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="follow_ups")
    outcome = models.CharField(_("outcome"), max_length=12, choices=FollowUpOutcome.choices)
    note = models.TextField(_("note"), blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at"]

    def __str__(self) -> str:
        return f"{self.case_id} {self.outcome}"


class RatingLevel(models.IntegerChoices):
    """The five 好差评 levels; the lower two are 差评."""

    VERY_SATISFIED = 5, _("Very satisfied")
    SATISFIED = 4, _("Satisfied")
    BASICALLY_SATISFIED = 3, _("Basically satisfied")
    DISSATISFIED = 2, _("Dissatisfied")
    VERY_DISSATISFIED = 1, _("Very dissatisfied")


BAD_RATING_MAX = RatingLevel.DISSATISFIED


class RatingSource(models.TextChoices):
    FOLLOW_UP = "follow_up", _("Follow-up call")
    CITIZEN = "citizen", _("Citizen page")
    EXTERNAL = "external", _("好差评 system")


class Rating(models.Model):
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="ratings")
    level = models.PositiveSmallIntegerField(_("rating"), choices=RatingLevel.choices)
    comment = models.TextField(_("comment"), blank=True)
    source = models.CharField(_("source"), max_length=12, choices=RatingSource.choices)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at"]

    def __str__(self) -> str:
        return f"{self.case_id} {self.level}"

    @property
    def is_bad(self) -> bool:
        return self.level <= BAD_RATING_MAX


class Attachment(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="attachments")
    file = models.FileField(upload_to="cases/%Y/%m/")
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["uploaded_at"]

    def __str__(self) -> str:
        return self.original_name


class FindingStatus(models.TextChoices):
    OPEN = "open", _("Open")
    RECTIFIED = "rectified", _("Rectified")
    VERIFIED = "verified", _("Verified by look-back")
    RELAPSED = "relapsed", _("Did not hold")


class Finding(models.Model):
    """A row of the rectification ledger (整改台账): a systemic cause found in one or more cases."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(_("title"), max_length=200)
    cause = models.ForeignKey(Cause, verbose_name=_("cause"), on_delete=models.PROTECT)
    department = models.ForeignKey(Department, verbose_name=_("department"), on_delete=models.PROTECT)
    required_change = models.TextField(_("what must change"))
    due_date = models.DateField(_("due date"))
    status = models.CharField(_("status"), max_length=12, choices=FindingStatus.choices, default=FindingStatus.OPEN)
    cases = models.ManyToManyField(Case, related_name="findings", verbose_name=_("cases"))
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    raised_at = models.DateTimeField(default=timezone.now)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-raised_at"]

    def __str__(self) -> str:
        return self.title


class FindingAction(models.Model):
    finding = models.ForeignKey(Finding, on_delete=models.PROTECT, related_name="actions")
    description = models.TextField(_("action taken"))
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at"]

    def __str__(self) -> str:
        return f"{self.finding_id} {self.at:%Y-%m-%d}"


class LookBack(models.Model):
    """回头看: a later check that a rectification held."""

    finding = models.ForeignKey(Finding, on_delete=models.PROTECT, related_name="look_backs")
    held = models.BooleanField(_("the fix held"))
    note = models.TextField(_("note"), blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["at"]

    def __str__(self) -> str:
        return f"{self.finding_id} {self.held}"
