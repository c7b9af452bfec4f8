"""好差评 callbacks racing each other: real connections, committed rows, one held row lock.

No ``django_db`` mark: each thread has its own connection and must see what the others commit.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any, cast

import psycopg
from django.db import connection, connections
from django_tenants.utils import tenant_context
from psycopg import sql

from casework.interop import services
from casework.interop.tests.conftest import issue, replied_case, supervisor, until, waiting_on_locks
from casework.models import Rating, RatingSource
from conftest import database_url_for_processes


def test_a_retry_arriving_while_the_first_callback_commits_is_a_duplicate_not_a_conflict(
    two_counties, django_db_blocker
):
    """The 好差评 system resends a callback it got no answer to (a timeout) while the first is still
    being written: both pass the lookup of the rating id, the second waits on the case's lock, and
    must then answer as a repeat (200, duplicate) instead of "already rated" (409)."""
    county = two_counties[0]
    suffix = uuid.uuid4().hex[:8]
    with django_db_blocker.unblock():
        case = replied_case(county, supervisor(county, f"race-{suffix}"))
        hcp = issue(county, "ratings", source=f"hcp-{suffix}")
        results: dict[str, Any] = {}

        def receive(name: str) -> None:
            try:
                cast(Any, connection).set_tenant(county)
                results[name] = services.external_rating_receive(
                    client=hcp.client, rating_id=f"RACE-{suffix}", case_number=case.number, level=4
                )
            except BaseException as exc:  # reported below
                results[name] = exc
            finally:
                connections.close_all()

        with psycopg.connect(database_url_for_processes(), autocommit=True) as observer:
            with psycopg.connect(database_url_for_processes()) as gate:
                held = sql.SQL("SELECT 1 FROM {}.casework_case WHERE id = %s FOR UPDATE")
                gate.execute(held.format(sql.Identifier(county.schema_name)), [case.pk])
                threads = [threading.Thread(target=receive, args=(name,)) for name in ("first", "second")]
                for thread in threads:
                    thread.start()
                until(lambda: waiting_on_locks(observer) >= 2)  # both past the lookup, waiting on the case
                gate.rollback()
            for thread in threads:
                thread.join(30)
        with tenant_context(county):
            stored = Rating.objects.filter(case=case, source=RatingSource.EXTERNAL).count()
    receipts = [results["first"], results["second"]]
    assert all(isinstance(r, services.RatingReceipt) for r in receipts), receipts
    assert sorted(r.duplicate for r in receipts) == [False, True]
    assert receipts[0].rating.pk == receipts[1].rating.pk and stored == 1
