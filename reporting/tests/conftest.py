"""A county with known cases (城中区, first quarter of 2025), so that every figure can be checked exactly.

- c1 咨询 01-06: replied 01-07 (due 01-09), follow-up solved, rated 5, archived → on time, solved.
- c2 办件 01-24: scjgj; replied 02-06 over the Spring Festival (4 working days; due 01-27), rated 4
  → late, solved.
- c3 办件 02-10: zsj, still open, due 02-24 → open overdue, late.
- c4 办件 02-12: waiting for the citizen's materials, due 02-20 → clocks stopped, not late.
- c5 办件 03-03: tcj returned it, scjgj took it; replied 03-04; follow-up not solved with a 差评;
  重办, replied again 03-10 (due 03-12) → reopened, returned, 差评 rectified, on time.
- c6 01-15 not accepted; c7 02-20 accepted, then withdrawn.
- c8 02-01 forwarded to 龙井市 → a forward out only.
- c9 03-14 forwarded in from 龙井市, online; replied 03-20 (due 03-25) → forward in, on time.
- c10 04-02 → outside the quarter.
- c11 咨询 03-31 23:30: accepted, not answered, due 04-01 → open overdue, late.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from casework.models import FindingStatus
from reporting.selectors import Scope
from reporting.tests.factories import CaseFactory, assign, at, finding, follow_up, reply

AS_OF = at("2025-04-10", "10:00")
Q1 = Scope(datetime.date(2025, 1, 1), datetime.date(2025, 3, 31))


def build_known_cases() -> dict[str, Any]:
    """Write the table above into the current county's schema."""
    c: dict[str, Any] = {}
    accepted = {"status": "accepted"}
    c["c1"] = CaseFactory(
        kind_code="consultation", window_code="district-hall", registered_at=at("2025-01-06", "09:00"),
        accepted_at=at("2025-01-06", "09:10"), replied_at=at("2025-01-07"), reply_due_at=at("2025-01-09", "17:30"),
        status="archived", closed_at=at("2025-01-09"),
    )  # fmt: skip
    reply(c["c1"], at("2025-01-07"))
    follow_up(c["c1"], at("2025-01-08"), solved=True, rating=5)

    c["c2"] = CaseFactory(
        category_code="simple", cause_code="list-missing", window_code="district-hall",
        registered_at=at("2025-01-24", "09:00"), accepted_at=at("2025-01-24", "09:30"),
        replied_at=at("2025-02-06"), reply_due_at=at("2025-01-27", "17:30"), status="followed_up",
    )  # fmt: skip
    assign(c["c2"], "scjgj", at("2025-01-24", "11:00"), status="done")
    reply(c["c2"], at("2025-02-06"))
    follow_up(c["c2"], at("2025-02-07"), solved=True, rating=4)

    c["c3"] = CaseFactory(
        category_code="complex", registered_at=at("2025-02-10"), accepted_at=at("2025-02-10", "11:00"),
        reply_due_at=at("2025-02-24", "17:30"), status="assigned",
    )  # fmt: skip
    assign(c["c3"], "zsj", at("2025-02-10", "12:00"))

    c["c4"] = CaseFactory(
        category_code="simple", cause_code="materials-incomplete", registered_at=at("2025-02-12"),
        accepted_at=at("2025-02-12", "11:00"), reply_due_at=at("2025-02-20", "17:30"), status="waiting_materials",
    )  # fmt: skip

    c["c5"] = CaseFactory(
        category_code="complex", cause_code="list-missing", registered_at=at("2025-03-03", "09:00"),
        accepted_at=at("2025-03-03", "09:20"), replied_at=at("2025-03-10"), reply_due_at=at("2025-03-12", "17:30"),
        status="replied", reopen_count=1,
    )  # fmt: skip
    assign(c["c5"], "tcj", at("2025-03-03", "10:00"), status="returned")
    assign(c["c5"], "scjgj", at("2025-03-03", "14:00"), status="done")
    reply(c["c5"], at("2025-03-04"))
    follow_up(c["c5"], at("2025-03-05"), solved=False, rating=1)
    reply(c["c5"], at("2025-03-10"), content="重办后答复")

    c["c6"] = CaseFactory(registered_at=at("2025-01-15"), reply_due_at=at("2025-01-20"), status="not_accepted")
    c["c7"] = CaseFactory(
        registered_at=at("2025-02-20"), accepted_at=at("2025-02-20", "11:00"), reply_due_at=at("2025-02-25"),
        status="withdrawn",
    )  # fmt: skip
    c["c8"] = CaseFactory(registered_at=at("2025-02-01"), reply_due_at=at("2025-02-05"), status="forwarded")
    c["c9"] = CaseFactory(
        channel="online", forwarded_from="222405", registered_at=at("2025-03-14"),
        accepted_at=at("2025-03-14", "11:00"), replied_at=at("2025-03-20"),
        reply_due_at=at("2025-03-25", "17:30"), status="replied",
    )  # fmt: skip
    reply(c["c9"], at("2025-03-20"))
    c["c10"] = CaseFactory(registered_at=at("2025-04-02"), accepted_at=at("2025-04-02", "11:00"), **accepted)
    c["c11"] = CaseFactory(
        kind_code="consultation", registered_at=at("2025-03-31", "23:30"), accepted_at=at("2025-04-01", "08:40"),
        reply_due_at=at("2025-04-01", "17:30"), **accepted,
    )  # fmt: skip

    finding("清单缺项", raised=at("2025-02-08"), due="2025-03-01", status=FindingStatus.OPEN, cases=[c["c2"]])
    finding("流程不科学", raised=at("2025-03-06"), due="2025-04-30", status=FindingStatus.VERIFIED, cases=[c["c5"]])
    finding("政策不清", raised=at("2025-03-07"), due="2025-03-20", status=FindingStatus.RECTIFIED, cases=[c["c5"]])
    finding("去年的问题", raised=at("2024-12-20"), due="2025-01-20", status=FindingStatus.OPEN, cases=[c["c1"]])
    return c


@pytest.fixture
def known_cases(county_a) -> dict[str, Any]:
    with tenant_context(county_a):
        return build_known_cases()
