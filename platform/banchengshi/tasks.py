"""Task base classes and the dispatcher that fans platform-wide work out to every county.

A task for county data runs in its county's schema, which travels in the ``_schema_name`` header.
tenant-schemas-celery falls back to the public schema when the header is missing; for county
data that would read or write the wrong tables, so ``CountyTask`` refuses to run instead.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django_tenants.utils import get_public_schema_name, schema_context
from tenant_schemas_celery.task import TenantTask

from banchengshi.errors import ApplicationError, PlatformErrorCode
from banchengshi.tenancy import current_schema

logger = logging.getLogger(__name__)


class MissingTenantError(ApplicationError):
    """A county task arrived without a county schema."""

    def __init__(self, task_name: str) -> None:
        super().__init__(
            PlatformErrorCode.MISSING_TENANT,
            f"Task {task_name} needs a county schema and was sent without one; it was not run.",
        )


def schema_of(task: Any) -> str | None:
    headers = task.request.headers or {}
    return headers.get("_schema_name") or task.request.get("_schema_name")


class CountyUnavailableError(ApplicationError):
    """A county task named its county, but the worker could not switch to it: the database was
    unreachable (tenant-schemas-celery only logs that) or the county is gone."""

    def __init__(self, task_name: str, schema: str) -> None:
        self.task_name, self.schema = task_name, schema
        super().__init__(
            PlatformErrorCode.COUNTY_UNAVAILABLE,
            f"Task {task_name} was sent for county schema {schema} but could not switch to it "
            "(database unreachable, or the county removed); it was not run.",
        )

    def __reduce__(self) -> tuple[type[CountyUnavailableError], tuple[str, str]]:
        # Celery pickles a task's exception into its result; rebuild it from its own arguments.
        return type(self), (self.task_name, self.schema)


class CountyTask(TenantTask):
    """Default base: the task works on one county's data and must know which county."""

    abstract = True
    requires_county = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.requires_county:
            schema = schema_of(self)
            if not schema or schema == get_public_schema_name():
                raise MissingTenantError(self.name)
            if current_schema() != schema:
                raise CountyUnavailableError(self.name, schema)
        return super().__call__(*args, **kwargs)


class PlatformTask(CountyTask):
    """Base for tasks that work on public-schema data only (the registry, the exchange...)."""

    abstract = True
    requires_county = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Queued from inside a county, the header names that county (tenant-schemas-celery adds
        # the sender's schema) and the worker switched to it: public tables that a county also
        # has (users, authenticators, sessions) would be read and written in the county instead.
        with schema_context(get_public_schema_name()):
            return super().__call__(*args, **kwargs)


def county_apply_async(
    task: Any, *, schema_name: str, kwargs: dict[str, Any] | None = None, countdown: int | None = None
) -> None:
    """Queue a county task for one named county, whatever schema the caller is in."""
    options = {} if countdown is None else {"countdown": countdown}
    task.apply_async(kwargs=kwargs or {}, headers={"_schema_name": schema_name}, **options)


@shared_task(base=PlatformTask, name="platform.dispatch_to_counties")
def dispatch_to_counties(task_name: str, kwargs: dict[str, Any] | None = None) -> int:
    """Queue ``task_name`` once for every active county; periodic county work goes through here."""
    from celery import current_app

    from tenants.selectors import county_schema_names_active

    task = current_app.tasks[task_name]
    with schema_context(get_public_schema_name()):
        schemas = county_schema_names_active()
    for schema_name in schemas:
        county_apply_async(task, schema_name=schema_name, kwargs=kwargs)
    logger.info("dispatched %s to %d counties", task_name, len(schemas))
    return len(schemas)
