"""factory_boy factories for casework; create rows in whatever county schema is current."""

from __future__ import annotations

import factory

from banchengshi.accounts.models import User
from casework.models import StaffProfile


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
