from django.urls import path

from sla.national import apis

urlpatterns = [
    path("calendar/", apis.CalendarStatusApi.as_view(), name="calendar-status"),
    path("calendar/years/", apis.CalendarYearLoadApi.as_view(), name="calendar-year-load"),
]
