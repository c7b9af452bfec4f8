"""Writes to the county registry: onboarding and the demo accounts."""

from __future__ import annotations

import copy
import csv
import datetime
import io
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tenants.utils import get_public_schema_name, schema_context, schema_exists, tenant_context
from rest_framework.authtoken.models import Token

from banchengshi.accounts.models import PlatformRole
from banchengshi.accounts.policy import two_factor_required
from banchengshi.accounts.services import enrollment_code_issue, password_generate, user_sessions_end
from banchengshi.audit.services import audit_record
from banchengshi.core.hosts import registry_generation_bump
from banchengshi.errors import ApplicationError
from banchengshi.sync import ChangeSummary
from banchengshi.tasks import county_apply_async
from casework.exchange.services import county_exchange_close
from casework.forwarding.services import county_departure_settle, exchange_files_delete
from casework.models import StaffRole
from casework.selectors import department_list
from casework.services import reference_data_apply, staff_create
from casework.tasks import recompute_deadlines
from sla.selectors import CALENDAR_TTL_SECONDS
from sla.services import deadline_configuration_apply
from sla.sweep.models import DeadlineEntry
from tenants.config import DIVISION_CODE_RE, CountyConfig, YamlUnreadable, county_config_parse, yaml_read
from tenants.errors import CountyConfigError, TenantsErrorCode
from tenants.migrator import RenderedPlan, county_schema_create, plan_render
from tenants.models import (
    BatchStatus,
    BreakGlassGrant,
    CasePrefixClaim,
    County,
    CountyBatch,
    CountyConfigVersion,
    CountyStatus,
    Domain,
)
from tenants.selectors import is_operator, is_security_admin

logger = logging.getLogger(__name__)


@dataclass
class OnboardResult:
    county: County
    county_created: bool
    schema_created: bool
    registry_changed: bool
    changes: ChangeSummary

    @property
    def changed(self) -> bool:
        return self.county_created or self.schema_created or self.registry_changed or self.changes.changed > 0


def county_domain(slug: str) -> str:
    return f"{slug}.{settings.COUNTY_DOMAIN_SUFFIX}"


def county_onboard(
    *, config: CountyConfig, rendered: RenderedPlan | None = None, actor_name: str = "", note: str = ""
) -> OnboardResult:
    """Create or update a county from its configuration, all or nothing.

    The schema, its tables and the county's configuration are made in one transaction
    (PostgreSQL rolls DDL back too), so a failure leaves no half-made county. Running the same
    configuration again changes nothing.
    """
    spec = config.county
    with schema_context(get_public_schema_name()), transaction.atomic():
        registry_lock()
        _check_conflicts(config)
        county = County.objects.select_for_update().filter(code=spec.code).first()
        county_created = county is None
        if county is None:
            county = County(schema_name=f"c{spec.code}", code=spec.code, status=CountyStatus.ONBOARDING)
        registry = {
            "slug": spec.slug,
            "name": spec.name,
            "full_name": spec.full_name,
            "province": spec.province,
            "city": spec.city,
            "case_prefix": spec.case_prefix,
            "window_name": spec.window_name,
            "personal_data_retention_days": spec.personal_data_retention_days,
        }
        changed_fields = [name for name, value in registry.items() if getattr(county, name) != value]
        for name in changed_fields:
            setattr(county, name, registry[name])
        if county_created or changed_fields:
            county.save()
        case_prefix_claim(code=county.code, prefix=county.case_prefix)

        schema_created = not schema_exists(county.schema_name)
        if schema_created:
            # The tables come from the migration plan rendered once (tenants.migrator), not from
            # running every migration through Django for this schema: a fraction of a second.
            rendered = rendered or plan_render()
            county_schema_create(schema=county.schema_name, rendered=rendered)
            county.schema_digest = rendered.plan.digest
            county.save(update_fields=["schema_digest"])
        domain_changed = _domain_sync(county)
        with tenant_context(county):
            deadlines = deadline_configuration_apply(
                rules=config.deadline_rules, holidays=config.holidays, office_hours=config.office_hours
            )
            changes = (
                reference_data_apply(
                    windows=config.windows,
                    departments=config.departments,
                    request_kinds=config.request_kinds,
                    categories=config.categories,
                    causes=config.causes,
                )
                + deadlines.summary
            )
        if deadlines.calendar.changed and not schema_created:
            # Open cases' running deadlines were counted on the county's old holidays or office
            # hours; the county's worker counts them again (and says so on each case's timeline).
            transaction.on_commit(partial(deadlines_recompute_queue, county.schema_name))

        final = {"config_digest": config.digest}
        # Only a county being made becomes active here: applying a configuration again must not
        # bring back a county that was suspended or whose migration failed (see migrate_counties).
        if county.status == CountyStatus.ONBOARDING:
            final["status"] = CountyStatus.ACTIVE
        final_changed = [name for name, value in final.items() if getattr(county, name) != value]
        for name in final_changed:
            setattr(county, name, final[name])
        if final_changed:
            county.save(update_fields=[*final_changed, "updated_at"])
        if county_created or changed_fields or domain_changed or final_changed:
            # Processes keep the county each host names, slug, case prefix and status included.
            registry_changed_announce()
        _config_version_record(county=county, config=config, actor_name=actor_name, note=note)
    return OnboardResult(
        county=county,
        county_created=county_created,
        schema_created=schema_created,
        registry_changed=bool(changed_fields or domain_changed or final_changed) and not county_created,
        changes=changes,
    )


def _config_version_record(*, county: County, config: CountyConfig, actor_name: str, note: str) -> None:
    latest = CountyConfigVersion.objects.filter(county=county).order_by("-number").first()
    if latest is not None and latest.digest == config.digest:
        return
    CountyConfigVersion.objects.create(
        county=county,
        number=(latest.number + 1) if latest else 1,
        yaml_text=config.text,
        digest=config.digest,
        note=note[:255],
        created_by=actor_name,
    )


def registry_changed_announce() -> None:
    """After this transaction commits, every process serves its counties as they are then.

    Called by each write that changes a county's row, domain or status: web processes keep the
    county of each host they served (banchengshi.core.hosts) until told. Nothing is told if the
    transaction rolls back.
    """
    transaction.on_commit(registry_generation_bump)


def _check_conflicts(config: CountyConfig) -> None:
    spec = config.county
    county_conflicts_check(source=config.source, code=spec.code, slug=spec.slug, case_prefix=spec.case_prefix)


def registry_lock() -> None:
    """Serialise the writes that create counties or change their slugs and prefixes.

    Two operators onboarding the same new county (or two counties with one slug) at once would
    otherwise both pass the conflict checks and one of them would meet the unique index: a 500
    instead of the second one updating, or getting its 409. Onboarding takes a fraction of a
    second, so waiting for the other is cheap. Held until the transaction ends.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [REGISTRY_LOCK_KEY])


# An arbitrary constant of this application's own (advisory lock keys are shared by the database).
REGISTRY_LOCK_KEY = 0x62637372_65676973  # "bcsregis"


def county_conflicts_check(*, source: str, code: str, slug: str, case_prefix: str) -> None:
    """Refuse a slug or case number prefix another county has, before the database does (409, not 500).

    A case number prefix once used by a county stays its own, even after it changed it or left
    the platform: see ``CasePrefixClaim``.
    """
    for field, value in (("slug", slug), ("case_prefix", case_prefix)):
        other = County.objects.filter(**{field: value}).exclude(code=code).first()
        if other is not None:
            raise ApplicationError(
                TenantsErrorCode.COUNTY_CONFLICT,
                _("%(source)s: county.%(field)s “%(value)s” is already used by %(other)s (%(code)s).")
                % {
                    "source": source,
                    "field": field,
                    "value": value,
                    "other": other.full_name,
                    "code": other.code,
                },
                http_status=409,
            )
    claim = CasePrefixClaim.objects.filter(prefix=case_prefix).exclude(county_code=code).first()
    if claim is not None:
        raise ApplicationError(
            TenantsErrorCode.COUNTY_CONFLICT,
            _(
                "%(source)s: county.case_prefix “%(value)s” was used by county %(code)s; case numbers must never "
                "name two cases, so a prefix is not given to another county."
            )
            % {"source": source, "value": case_prefix, "code": claim.county_code},
            http_status=409,
        )


def case_prefix_claim(*, code: str, prefix: str) -> None:
    """Record that this county numbers its cases with ``prefix`` (checked by county_conflicts_check)."""
    CasePrefixClaim.objects.get_or_create(prefix=prefix, defaults={"county_code": code})


def _domain_sync(county: County) -> bool:
    wanted = county_domain(county.slug)
    primary = Domain.objects.filter(tenant=county, is_primary=True).first()
    if primary is None:
        Domain.objects.create(tenant=county, domain=wanted, is_primary=True)
        return True
    if primary.domain != wanted:
        primary.domain = wanted
        primary.save(update_fields=["domain"])
        return True
    return False


@dataclass(frozen=True)
class DemoAccount:
    host: str
    username: str
    password: str


def demo_accounts_ensure() -> list[DemoAccount]:
    """Create the demo operator and one admin per active county, where missing.

    Passwords are random and returned only when the account is created; production settings
    refuse to run this at all.
    """
    if not settings.DEMO_ACCOUNTS_ALLOWED:
        raise ApplicationError(
            TenantsErrorCode.DEMO_NOT_ALLOWED, _("Demo accounts are not allowed in this deployment.")
        )
    created: list[DemoAccount] = []
    with schema_context(get_public_schema_name()):
        counties = list(County.objects.filter(status=CountyStatus.ACTIVE))
        account = _demo_user("operator", _("Provincial operator"), superuser=True)
        if account:
            created.append(DemoAccount(host=settings.COUNTY_DOMAIN_SUFFIX, username="operator", password=account))
    for county in counties:
        with tenant_context(county):
            handler_department = department_list().filter(runs_window=False).first()
            for username, role, department in (
                ("admin", StaffRole.COUNTY_ADMIN, None),
                ("clerk", StaffRole.WINDOW_CLERK, None),
                ("supervisor", StaffRole.SUPERVISOR, None),
                ("handler", StaffRole.DEPARTMENT_HANDLER, handler_department),
                ("leader", StaffRole.LEADER, None),
            ):
                if get_user_model().objects.filter(username=username).exists():
                    continue
                password = password_generate()
                staff_create(
                    actor=None,
                    username=username,
                    name=f"{county.name}{StaffRole(role).label}",
                    role=role,
                    password=password,
                    department_code=department.code if department else "",
                )
                created.append(DemoAccount(host=county_domain(county.slug), username=username, password=password))
    return created


def _demo_user(username: str, name: str, *, superuser: bool) -> str | None:
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        return None
    password = password_generate()
    user_model.objects.create_user(
        username=username, password=password, name=name, is_staff=True, is_superuser=superuser
    )
    return password


# -- batch onboarding ---------------------------------------------------------------------------

BATCH_COLUMNS = ("code", "name", "slug", "full_name", "province", "city", "case_prefix", "window_name")
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def county_batch_create(*, csv_text: str, template_yaml: str, source_name: str, actor_name: str = "") -> CountyBatch:
    """Check a CSV of counties (``code,name`` and optional registry columns) and a template configuration.

    Every problem of the file is reported at once; nothing is onboarded here (see county_batch_run).
    """
    problems: list[dict[str, str]] = []
    reader = csv.DictReader(io.StringIO(csv_text.lstrip("\ufeff")))
    try:
        header = [name.strip() for name in reader.fieldnames or []]
        records = list(reader)
    except csv.Error as exc:
        # The csv module refuses fields over its size limit and malformed quoting.
        raise ApplicationError(
            TenantsErrorCode.BATCH_INVALID,
            _("%(source)s:%(line)d: the CSV file cannot be read (a field is too long or badly quoted).")
            # line_num counts the lines of the records read whole; the bad one starts after them.
            % {"source": source_name, "line": reader.line_num + 1},
        ) from exc
    for required in ("code", "name"):
        if required not in header:
            problems.append(
                {
                    "field": f"{source_name}:1",
                    "code": "missing",
                    "message": _("Column “%(name)s” is missing.") % {"name": required},
                }
            )
    unknown = [name for name in header if name not in BATCH_COLUMNS]
    if unknown:
        problems.append(
            {
                "field": f"{source_name}:1",
                "code": "unknown_field",
                "message": _("Unknown columns: %(names)s.") % {"names": ", ".join(unknown)},
            }
        )
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    if not problems:
        for line, raw in enumerate(records, start=2):
            row = {key.strip(): (value or "").strip() for key, value in raw.items() if key}
            code = row.get("code", "")
            if not DIVISION_CODE_RE.match(code):
                problems.append(
                    {"field": f"{source_name}:{line}", "code": "invalid", "message": _("The code must be 6 digits.")}
                )
            elif code in seen:
                problems.append(
                    {"field": f"{source_name}:{line}", "code": "duplicate", "message": _("This code appears twice.")}
                )
            if not row.get("name"):
                problems.append(
                    {"field": f"{source_name}:{line}", "code": "missing", "message": _("This field is required.")}
                )
            seen.add(code)
            rows.append({**row, "line": str(line)})
    if not rows and not problems:
        problems.append({"field": source_name, "code": "missing", "message": _("The file lists no county.")})
    template = _batch_template(template_yaml)
    if not problems:
        try:
            county_config_parse(_batch_row_yaml(template, rows[0], prefix="ZZZZ"), source="template.yaml")
        except CountyConfigError as exc:
            problems.extend(exc.details)
    if problems:
        raise ApplicationError(
            TenantsErrorCode.BATCH_INVALID,
            _("The batch cannot be onboarded: %(count)d problem(s).") % {"count": len(problems)},
            details=problems,
        )
    return CountyBatch.objects.create(
        source_name=source_name[:255],
        template_yaml=template_yaml,
        rows=rows,
        total=len(rows),
        created_by=actor_name,
    )


def _batch_template(template_yaml: str) -> dict[str, Any]:
    try:
        data = yaml_read(template_yaml)
    except YamlUnreadable as exc:
        raise ApplicationError(TenantsErrorCode.BATCH_INVALID, exc.message) from exc
    if not isinstance(data, dict):
        raise ApplicationError(TenantsErrorCode.BATCH_INVALID, _("Expected a mapping of fields."))
    return data


def _batch_row_yaml(template: dict[str, Any], row: dict[str, str], *, prefix: str) -> str:
    data = copy.deepcopy(template)
    county = dict(data.get("county") or {})
    county.update(
        {
            "code": row["code"],
            "name": row["name"],
            "full_name": row.get("full_name") or row["name"],
            "slug": row.get("slug") or f"c{row['code']}",
            "case_prefix": row.get("case_prefix") or prefix,
        }
    )
    for optional in ("province", "city", "window_name"):
        if row.get(optional):
            county[optional] = row[optional]
    data["county"] = county
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def case_prefix_for(code: str, taken: set[str]) -> str:
    """Four letters derived from the division code; the next free one when another county has it."""
    number = int(code) % len(_LETTERS) ** 4
    for _attempt in range(len(_LETTERS) ** 4):
        letters = ""
        value = number
        for _position in range(4):
            value, digit = divmod(value, len(_LETTERS))
            letters = _LETTERS[digit] + letters
        if letters not in taken:
            return letters
        number = (number + 1) % len(_LETTERS) ** 4
    raise ApplicationError(TenantsErrorCode.BATCH_INVALID, _("No case number prefix is left."))


BatchProgress = Callable[[CountyBatch], None]


def county_batch_run(
    *, batch_id: int, progress: BatchProgress | None = None, seconds: float | None = None
) -> CountyBatch:
    """Onboard the counties of a batch from where it stopped; each county is its own transaction.

    With ``seconds``, stop after the row that used them up and leave the batch running, for the
    caller to go on with (a worker's task is then minutes long, not the batch's half hour).
    Running it twice is harmless: onboarding is idempotent and ``done`` moves forward only.
    """
    with schema_context(get_public_schema_name()):
        batch = CountyBatch.objects.get(pk=batch_id)
        if batch.status == BatchStatus.FINISHED:
            return batch
        batch.status = BatchStatus.RUNNING
        CountyBatch.objects.filter(pk=batch.pk).update(status=batch.status)
        # No row can stop the loop (each failure is that row's); what else interrupts it (the worker
        # stopping) leaves the batch running so that the next run resumes it instead of calling a
        # half-done batch finished.
        stop_at = None if seconds is None else time.monotonic() + seconds
        if not _batch_rows_onboard(batch, progress, stop_at):
            return batch
        batch.status = BatchStatus.FINISHED
        batch.finished_at = timezone.now()
        CountyBatch.objects.filter(pk=batch.pk).update(status=batch.status, finished_at=batch.finished_at)
    return batch


def _batch_rows_onboard(batch: CountyBatch, progress: BatchProgress | None, stop_at: float | None) -> bool:
    """Onboard rows from ``batch.done`` on; whether every row is done (False: stopped at ``stop_at``)."""
    template = _batch_template(batch.template_yaml)
    rendered = plan_render()
    taken = set(County.objects.values_list("case_prefix", flat=True)) | set(
        CasePrefixClaim.objects.values_list("prefix", flat=True)
    )
    existing = dict(County.objects.values_list("code", "case_prefix"))
    errors = list(batch.errors)
    failed = batch.failed
    for index in range(batch.done, batch.total):
        row = batch.rows[index]
        prefix = row.get("case_prefix") or existing.get(row["code"]) or case_prefix_for(row["code"], taken)
        source = f"{batch.source_name}:{row.get('line', index + 2)}"
        try:
            config = county_config_parse(_batch_row_yaml(template, row, prefix=prefix), source=source)
            # A savepoint of its own: a database error undoes this county only, and the
            # connection stays usable for the next row.
            with transaction.atomic():
                result = county_onboard(
                    config=config, rendered=rendered, actor_name=batch.created_by, note=batch.source_name
                )
                _onboarded_audit(actor=None, result=result, actor_label=batch.created_by, batch=batch.pk)
        except ApplicationError as exc:
            failed += 1
            errors.append({"line": source, "code": str(exc.code), "message": exc.message})
        except SoftTimeLimitExceeded:
            # The worker's time is up, not this county's fault: its savepoint undid it, and the
            # batch, still running, starts with it when resumed.
            raise
        except Exception as exc:
            # A database refusal or a bug must not leave the batch running for ever with the
            # remaining rows waiting: it is this row's failure.
            logger.exception("Batch %s: onboarding %s failed", batch.pk, source)
            failed += 1
            message = (
                _("The database refused this county; nothing of it was written.")
                if isinstance(exc, DatabaseError)
                else _("An unexpected error stopped this county; nothing of it was written.")
            )
            errors.append({"line": source, "code": str(TenantsErrorCode.BATCH_INVALID), "message": message})
        else:
            taken.add(prefix)
        batch.done, batch.failed, batch.errors = index + 1, failed, errors
        CountyBatch.objects.filter(pk=batch.pk).update(done=batch.done, failed=failed, errors=errors)
        if progress is not None:
            progress(batch)
        if stop_at is not None and time.monotonic() >= stop_at and batch.done < batch.total:
            return False
    return True


def _onboarded_audit(*, actor: Any, result: OnboardResult, actor_label: str = "", batch: int | None = None) -> None:
    """Onboarding from the console or a batch is an operator's act on a county, and audited as one."""
    details: dict[str, Any] = {
        "digest": result.county.config_digest,
        "created": result.county_created,
        "changed": result.changed,
    }
    if batch is not None:
        details["batch"] = batch
    with schema_context(get_public_schema_name()):
        audit_record(
            action="tenants.county_onboarded",
            actor=actor,
            actor_label=actor_label if actor is None else "",
            object_type="tenants.county",
            object_id=result.county.code,
            details=details,
        )


def county_onboard_by_operator(*, actor: Any, config: CountyConfig) -> OnboardResult:
    """Onboard (or update) a county from the console, recording who did it."""
    operator_require(actor)
    with transaction.atomic():
        result = county_onboard(config=config, actor_name=actor.get_username(), note=_("Onboarded"))
        _onboarded_audit(actor=actor, result=result)
    return result


# -- the provincial console: operators' writes --------------------------------------------------

RETENTION_DAYS_DEFAULT = 180
BREAK_GLASS_MAX_MINUTES = 240


def operator_require(actor: Any) -> None:
    """Console writes about counties are for the province's system administrators (三权分立)."""
    if not is_operator(actor):
        raise ApplicationError(
            TenantsErrorCode.PERMISSION_DENIED, _("Only provincial operators may do this."), http_status=403
        )


def security_admin_require(actor: Any) -> None:
    """Operator accounts are the security administrator's: nobody grants themselves a role."""
    if not is_security_admin(actor):
        raise ApplicationError(
            TenantsErrorCode.PERMISSION_DENIED,
            _("Only the platform's security administrators manage operator accounts."),
            http_status=403,
        )


def _audit(*, actor: Any, action: str, county: County, details: dict[str, Any] | None = None) -> None:
    with schema_context(get_public_schema_name()):
        audit_record(
            action=action, actor=actor, object_type="tenants.county", object_id=county.code, details=details or {}
        )


def _status_error(county: County) -> ApplicationError:
    return ApplicationError(
        TenantsErrorCode.ILLEGAL_STATUS,
        _("Not possible while the county is “%(status)s”.") % {"status": county.get_status_display()},
        http_status=409,
    )


def county_suspend(*, actor: Any, county: County, reason: str) -> County:
    """Take a county out of service: its pages say so, its data is kept."""
    operator_require(actor)
    with schema_context(get_public_schema_name()), transaction.atomic():
        county = County.objects.select_for_update().get(pk=county.pk)
        if county.status != CountyStatus.ACTIVE:
            raise _status_error(county)
        county.status = CountyStatus.SUSPENDED
        county.suspended_at = timezone.now()
        county.save(update_fields=["status", "suspended_at", "updated_at"])
        registry_changed_announce()
        _audit(actor=actor, action="tenants.county_suspended", county=county, details={"reason_length": len(reason)})
    return county


def county_resume(*, actor: Any, county: County) -> County:
    operator_require(actor)
    with schema_context(get_public_schema_name()), transaction.atomic():
        county = County.objects.select_for_update().get(pk=county.pk)
        if county.status != CountyStatus.SUSPENDED:
            raise _status_error(county)
        county.status = CountyStatus.ACTIVE
        county.suspended_at = None
        county.removal_hold_until = None
        county.save(update_fields=["status", "suspended_at", "removal_hold_until", "updated_at"])
        registry_changed_announce()
        _audit(actor=actor, action="tenants.county_resumed", county=county)
        # A suspended county is left out of work dispatched to all counties, a calendar
        # correction's recompute included.
        transaction.on_commit(partial(deadlines_recompute_queue, county.schema_name))
    return county


def deadlines_recompute_queue(schema_name: str) -> None:
    """Have the county's worker count its running deadlines again on the calendar as it is now.

    Sent twice: other processes keep the calendar they read for up to a minute, and a step taken
    there meanwhile counts on the old days; the second run puts such a case right (a recompute
    that finds nothing to move writes nothing).
    """
    for countdown in (None, CALENDAR_TTL_SECONDS + 30):
        county_apply_async(
            recompute_deadlines, schema_name=schema_name, kwargs={"every_running": True}, countdown=countdown
        )


def county_removal_request(*, actor: Any, county: County) -> County:
    """Suspend the county and start its retention hold; removal is possible once the hold ends."""
    operator_require(actor)
    days = int(getattr(settings, "COUNTY_RETENTION_DAYS", RETENTION_DAYS_DEFAULT))
    with schema_context(get_public_schema_name()), transaction.atomic():
        county = County.objects.select_for_update().get(pk=county.pk)
        if county.status not in {CountyStatus.ACTIVE, CountyStatus.SUSPENDED}:
            raise _status_error(county)
        now = timezone.now()
        county.status = CountyStatus.SUSPENDED
        county.suspended_at = county.suspended_at or now
        county.removal_hold_until = now + datetime.timedelta(days=days)
        county.save(update_fields=["status", "suspended_at", "removal_hold_until", "updated_at"])
        registry_changed_announce()
        _audit(actor=actor, action="tenants.county_removal_requested", county=county, details={"days": days})
    return county


def county_remove(*, actor: Any, county: County) -> None:
    """Drop a county's schema, files, registry rows and deadline index rows, after its retention hold."""
    operator_require(actor)
    with schema_context(get_public_schema_name()), transaction.atomic():
        county = County.objects.select_for_update().get(pk=county.pk)
        hold = county.removal_hold_until
        if hold is None or hold > timezone.now():
            raise ApplicationError(
                TenantsErrorCode.RETENTION_HOLD,
                _("The county may be removed only after its retention hold (%(until)s).")
                % {"until": timezone.localtime(hold).strftime("%Y-%m-%d %H:%M") if hold else _("not requested")},
                http_status=409,
            )
        schema = county.schema_name
        reason = _("%(county)s has left the platform.") % {"county": county.full_name}
        with tenant_context(county):
            settled = county_departure_settle(reason=reason)
        transit = county_exchange_close(code=county.code, operator=str(getattr(actor, "username", "")))
        with connection.cursor() as cursor:
            # Deferred foreign-key checks of this transaction would otherwise block the drop.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        DeadlineEntry.objects.filter(schema_name=schema).delete()
        _audit(actor=actor, action="tenants.county_removed", county=county, details=settled)
        Domain.objects.filter(tenant=county).delete()
        County.objects.filter(pk=county.pk).delete()
        registry_changed_announce()
        media = Path(settings.MEDIA_ROOT) / schema
        transaction.on_commit(lambda: shutil.rmtree(media, ignore_errors=True))
        transaction.on_commit(lambda: exchange_files_delete(transit))


def county_config_change(
    *, actor: Any, county: County, yaml_text: str, note: str = "", rolled_back_to: int | None = None
) -> OnboardResult:
    """Apply a new configuration to an existing county as a new version (the diff is shown before)."""
    operator_require(actor)
    config = county_config_parse(yaml_text, source=f"{county.slug}.yaml")
    if config.county.code != county.code:
        raise ApplicationError(
            TenantsErrorCode.CONFIG_INVALID,
            _("The configuration is for county %(other)s, not %(code)s.")
            % {"other": config.county.code, "code": county.code},
        )
    result = county_onboard(config=config, actor_name=actor.get_username(), note=note)
    if rolled_back_to is not None:
        latest = CountyConfigVersion.objects.filter(county=result.county).order_by("-number").first()
        if latest is not None and latest.digest == config.digest:
            latest.rolled_back_to = rolled_back_to
            latest.save(update_fields=["rolled_back_to"])
    _audit(actor=actor, action="tenants.county_configured", county=county, details={"digest": config.digest})
    return result


def county_config_rollback(*, actor: Any, county: County, number: int) -> OnboardResult:
    """Apply an earlier version again; it becomes the newest version (history is never rewritten)."""
    operator_require(actor)
    version = CountyConfigVersion.objects.filter(county=county, number=number).first()
    if version is None:
        raise ApplicationError(
            TenantsErrorCode.VERSION_NOT_FOUND, _("This configuration version does not exist."), http_status=404
        )
    return county_config_change(
        actor=actor,
        county=county,
        yaml_text=version.yaml_text,
        note=_("Rolled back to version %(number)d") % {"number": number},
        rolled_back_to=number,
    )


def county_admin_create(*, actor: Any, county: County, username: str, name: str, password: str) -> str:
    """Create a county's first administrator (in the county's schema); returns its enrollment code.

    The operator chose the password, so its owner replaces it at the first sign-in, and the
    administrator's second factor is set up only with the code, which the operator hands over apart
    from the password: whoever reads the password alone cannot put their own phone on the account.
    """
    operator_require(actor)
    with tenant_context(county):
        profile = staff_create(
            actor=None, username=username, name=name, role=StaffRole.COUNTY_ADMIN, password=password,
            operator_label=f"operator:{actor.get_username()}"[:150],
        )  # fmt: skip
    _audit(actor=actor, action="tenants.county_admin_created", county=county)
    return str(getattr(profile.user, "enrollment_code", ""))


def operator_create(*, actor: Any, username: str, name: str, password: str, role: str = PlatformRole.OPERATOR) -> Any:
    """Create a provincial operator with one platform role: a staff account of the public schema, never a superuser."""
    security_admin_require(actor)
    if role not in PlatformRole.values:
        raise ApplicationError(TenantsErrorCode.PERMISSION_DENIED, _("Unknown platform role."), http_status=400)
    user_model = get_user_model()
    with schema_context(get_public_schema_name()):
        if user_model.objects.filter(username=username).exists():
            raise ApplicationError(
                TenantsErrorCode.COUNTY_CONFLICT, _("This user name is already taken."), http_status=409
            )
        user = user_model.objects.create_user(
            username=username, password=password, name=name, is_staff=True, platform_role=role,
            must_change_password=True,
        )  # fmt: skip
        audit_record(
            action="tenants.operator_created", actor=actor, object_type="accounts.user", object_id=user.pk,
            details={"role": role},
        )  # fmt: skip
        if two_factor_required(user):
            user.enrollment_code = enrollment_code_issue(user=user, actor=actor)
    return user


def break_glass_grant(*, actor: Any, county: County, reason: str, minutes: int) -> BreakGlassGrant:
    """Open a time-limited, reasoned access to one county's personal data for one operator."""
    operator_require(actor)
    reason = reason.strip()
    if len(reason) < 10:
        raise ApplicationError(
            TenantsErrorCode.BREAK_GLASS_INVALID, _("Give the reason in at least 10 characters."), http_status=400
        )
    if not 1 <= minutes <= BREAK_GLASS_MAX_MINUTES:
        raise ApplicationError(
            TenantsErrorCode.BREAK_GLASS_INVALID,
            _("Access lasts at most %(max)d minutes.") % {"max": BREAK_GLASS_MAX_MINUTES},
            http_status=400,
        )
    with schema_context(get_public_schema_name()), transaction.atomic():
        grant = BreakGlassGrant.objects.create(
            operator=actor,
            county=county,
            reason=reason,
            expires_at=timezone.now() + datetime.timedelta(minutes=minutes),
        )
        _audit(
            actor=actor,
            action="tenants.break_glass_granted",
            county=county,
            details={"grant": grant.pk, "minutes": minutes},
        )
    return grant


def break_glass_revoke(*, actor: Any, grant: BreakGlassGrant) -> None:
    operator_require(actor)
    with schema_context(get_public_schema_name()), transaction.atomic():
        if grant.revoked_at is None:
            grant.revoked_at = timezone.now()
            grant.save(update_fields=["revoked_at"])
            _audit(actor=actor, action="tenants.break_glass_revoked", county=grant.county, details={"grant": grant.pk})


def operator_deactivate(*, actor: Any, user_id: int) -> None:
    """Close an operator's account (never one's own: the last operator cannot lock everyone out)."""
    security_admin_require(actor)
    user_model = get_user_model()
    with schema_context(get_public_schema_name()), transaction.atomic():
        user = user_model.objects.filter(pk=user_id, is_staff=True).first()
        if user is None or user.pk == actor.pk:
            raise ApplicationError(
                TenantsErrorCode.PERMISSION_DENIED, _("This account cannot be closed here."), http_status=403
            )
        user.is_active = False
        user.save(update_fields=["is_active"])
        # Closed means out now: the console sessions and any API token go with the account.
        sessions = user_sessions_end(user_id=user.pk)
        Token.objects.filter(user=user).delete()
        audit_record(
            action="tenants.operator_deactivated", actor=actor, object_type="accounts.user", object_id=user.pk,
            details={"sessions_ended": sessions},
        )  # fmt: skip
