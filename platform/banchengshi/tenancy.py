"""Typed access to the schema the database connection is in (django-tenants adds it untyped)."""

from typing import Any, cast

from django.db import connection


def current_schema() -> str:
    return str(cast(Any, connection).schema_name)


def switch_to_public() -> None:
    cast(Any, connection).set_schema_to_public()


def current_county() -> Any:
    """The county (tenant) the connection is in; django-tenants sets it on the connection."""
    return cast(Any, connection).tenant
