"""Template tags of 跨域通办 for pages outside the package (the citizen's tracking page)."""

from __future__ import annotations

from typing import Any

from django import template

from casework.forwarding.selectors import forwards_handled_elsewhere
from casework.models import Case

register = template.Library()


@register.inclusion_tag("forwarding/handled_elsewhere.html", takes_context=True)
def handled_elsewhere(context: template.Context, case: Case) -> dict[str, Any]:
    """Where a case this county forwarded is handled now, and the tracking code that finds it there.

    The other county's page is offered on the scheme and port the citizen reached this one on
    (every county's host shares the platform's domain).
    """
    request = getattr(context, "request", None)
    scheme, port = "https", ""
    if request is not None:
        scheme = request.scheme
        host = request.get_host()
        port = ":" + host.rpartition(":")[2] if ":" in host else ""
    rows = [
        row | {"track_url": f"{scheme}://{row['track_host']}{port}/track/" if row["track_host"] else ""}
        for row in forwards_handled_elsewhere(case=case)
    ]
    return {"rows": rows}
