"""What the county staff pages' navigation offers the signed-in person's role."""

from typing import Any

from django.http import HttpRequest
from django_tenants.utils import get_public_schema_name

from banchengshi.tenancy import current_schema
from casework.policy import Action, may
from casework.selectors import staff_profile_of


def staff_nav(request: HttpRequest) -> dict[str, Any]:
    """A link is offered only to a role that may open its page (the profile is read once a request)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or getattr(request, "tenant", None) is None:
        return {}
    if current_schema() == get_public_schema_name():
        return {}
    return {"may_manage_staff": may(staff_profile_of(user), Action.MANAGE_STAFF)}
