"""Cases written as rows with exact times, so that every figure of a test county is known in advance."""

from __future__ import annotations

import datetime
from typing import Any

import factory

from casework.models import (
    Assignment,
    Case,
    Category,
    Cause,
    Department,
    Finding,
    FollowUp,
    Rating,
    Reply,
    RequestKind,
    Window,
)
from casework.tests.factories import UserFactory
from sla.calendar import SHANGHAI


def at(day: str, clock: str = "10:00") -> datetime.datetime:
    """A local (Asia/Shanghai) moment: ``at("2025-01-24", "09:30")``."""
    return datetime.datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=SHANGHAI)


class CaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Case

    number = factory.Sequence(lambda n: f"RP-2025-{n:06d}")
    tracking_code = factory.Sequence(lambda n: f"T{n:09d}")
    matter = factory.Sequence(lambda n: f"事项{n}")
    description = "多次往返未能办成"
    citizen_name = "廖女士"
    citizen_phone = "13812345678"
    channel = "window"
    kind = factory.LazyFunction(lambda: RequestKind.objects.get(code="case"))
    status = "registered"

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Case:
        for name, model in (("kind", RequestKind), ("category", Category), ("cause", Cause), ("window", Window)):
            code = kwargs.pop(f"{name}_code", None)
            if code:
                kwargs[name] = model.objects.get(code=code)
        return super()._create(model_class, *args, **kwargs)


def reply(case: Case, when: datetime.datetime, content: str = "已答复") -> Reply:
    return Reply.objects.create(case=case, method="phone", content=content, replied_by=_user(), replied_at=when)


def follow_up(case: Case, when: datetime.datetime, *, solved: bool, rating: int | None = None) -> None:
    FollowUp.objects.create(case=case, outcome="solved" if solved else "not_solved", by=_user(), at=when)
    if rating is not None:
        Rating.objects.create(case=case, level=rating, source="follow_up", at=when)


def assign(case: Case, department: str, when: datetime.datetime, *, status: str = "pending", role: str = "lead"):
    return Assignment.objects.create(
        case=case,
        department=Department.objects.get(code=department),
        role=role,
        status=status,
        assigned_by=_user(),
        assigned_at=when,
        finished_at=None if status == "pending" else when + datetime.timedelta(hours=2),
    )


def finding(title: str, *, raised: datetime.datetime, due: str, status: str, cases: list[Case]) -> Finding:
    row = Finding.objects.create(
        title=title,
        cause=Cause.objects.get(code="list-missing"),
        department=Department.objects.get(code="scjgj"),
        required_change="补充实施清单",
        due_date=datetime.date.fromisoformat(due),
        status=status,
        raised_by=_user(),
        raised_at=raised,
    )
    row.cases.set(cases)
    return row


def _user() -> Any:
    return UserFactory(username="report-maker")
