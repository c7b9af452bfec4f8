"""Reads of casework data, always in the current county's schema."""

from django.db.models import QuerySet

from casework.models import Category, Cause, Department, RequestKind, Window


def window_list() -> QuerySet[Window]:
    return Window.objects.filter(is_active=True)


def department_list() -> QuerySet[Department]:
    return Department.objects.filter(is_active=True)


def request_kind_list() -> QuerySet[RequestKind]:
    return RequestKind.objects.filter(is_active=True)


def category_list() -> QuerySet[Category]:
    return Category.objects.filter(is_active=True)


def cause_list() -> QuerySet[Cause]:
    return Cause.objects.filter(is_active=True)
