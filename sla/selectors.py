from django.db.models import QuerySet

from sla.models import DeadlineRule, LocalHoliday, OfficeHours


def deadline_rule_list() -> QuerySet[DeadlineRule]:
    return DeadlineRule.objects.filter(is_active=True)


def local_holiday_list() -> QuerySet[LocalHoliday]:
    return LocalHoliday.objects.filter(is_active=True)


def office_hours_list() -> QuerySet[OfficeHours]:
    return OfficeHours.objects.filter(is_active=True)
