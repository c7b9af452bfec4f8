"""Staff and citizen pages of a county (served at the county's own host)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from casework.selectors import department_list, window_list


def county_home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "casework/county_home.html",
        {"county": request.tenant, "windows": window_list(), "departments": department_list()},  # type: ignore[attr-defined]
    )
