"""The provincial console's pages (public schema, served at the console host)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from sla.national.selectors import calendar_status
from tenants.selectors import county_list


def console_home(request: HttpRequest) -> HttpResponse:
    port = request.get_port()
    suffix = "" if port in {"80", "443"} else f":{port}"
    counties = [
        {
            "county": county,
            "url": f"{request.scheme}://{county.domains.all()[0].domain}{suffix}/" if county.domains.all() else "",
        }
        for county in county_list()
    ]
    status = calendar_status(today=timezone.localdate())
    return render(request, "tenants/console_home.html", {"counties": counties, "calendar": status})
