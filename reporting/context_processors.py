"""The dashboard's entry in the county staff pages' navigation, for those who may read figures.

Reporting offers the link (casework's pages do not know reporting): the base template shows
``reports_nav`` when it is there.
"""

from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _
from django_tenants.utils import get_public_schema_name

from banchengshi.tenancy import current_schema
from casework.selectors import staff_profile_of
from reporting.policy import may_read


def reports_nav(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or getattr(request, "tenant", None) is None:
        return {}
    if current_schema() == get_public_schema_name() or not may_read(staff_profile_of(user)):
        return {}
    return {"reports_nav": {"url": reverse("reporting:dashboard"), "label": _("Figures and reports")}}
