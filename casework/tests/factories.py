"""factory_boy factories for casework; create rows in whatever county schema is current."""

from __future__ import annotations

import factory

from banchengshi.accounts.models import User
from casework.models import StaffProfile
from casework.services import CaseIntake


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    name = factory.Faker("name", locale="zh_CN")
    password = factory.django.Password("S3cure-pass!")


class StaffProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StaffProfile

    user = factory.SubFactory(UserFactory)
    role = "window_clerk"
    department = None


# The seeds' 廖女士 case as a clerk sends it to ``cases/create/``.
LIAO_REGISTRATION = {
    "matter": "企业登记经营范围“交通安全统筹”",
    "description": "国民经济行业分类未列此项，市场监督管理局未予登记。",
    "citizen_name": "廖女士",
    "citizen_phone": "138 1234 5678",
    "channel": "window",
    "kind": "case",
    "window": "district-hall",
    "departments": ["scjgj"],
}


def case_intake(**changes: object) -> CaseIntake:
    """A window intake for services tests; ``changes`` override its fields."""
    values: dict[str, object] = {
        "matter": "事项", "description": "x", "citizen_name": "x", "citizen_phone": "13800003333",
        "channel": "window", "kind_code": "case",
    } | changes  # fmt: skip
    return CaseIntake(**values)  # type: ignore[arg-type]
