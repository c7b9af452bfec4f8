"""Seed the national calendar with every year chinesecalendar ships (2004–2026 at the time of writing)."""

from django.db import migrations


def seed(apps, schema_editor):
    import chinese_calendar

    NationalDay = apps.get_model("sla_national", "NationalDay")
    CalendarYear = apps.get_model("sla_national", "CalendarYear")
    years = sorted({d.year for d in chinese_calendar.holidays})
    loaded = set(CalendarYear.objects.values_list("year", flat=True))
    days = []
    for day, name in chinese_calendar.holidays.items():
        if day.year not in loaded:
            days.append(NationalDay(date=day, kind="holiday", name=name))
    for day, name in chinese_calendar.workdays.items():
        if day.year not in loaded:
            days.append(NationalDay(date=day, kind="makeup_workday", name=name))
    NationalDay.objects.bulk_create(days, ignore_conflicts=True)
    for year in years:
        if year not in loaded:
            CalendarYear.objects.create(year=year, source="chinesecalendar")


class Migration(migrations.Migration):
    dependencies = [("sla_national", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
