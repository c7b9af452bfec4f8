"""Runs the notifications relay of every county now, in a process of its own on the suite's
settings: what the periodic relay does on another worker while this one is down.

``python -m tests.faults.relay`` prints how many messages it queued.
"""

from __future__ import annotations


def main() -> None:
    import django

    django.setup()
    from django_tenants.utils import tenant_context

    from notifications.services import notifications_relay
    from tenants.models import County

    queued = 0
    for county in County.objects.order_by("slug"):
        with tenant_context(county):
            queued += len(notifications_relay())
    print(queued)


if __name__ == "__main__":
    main()
