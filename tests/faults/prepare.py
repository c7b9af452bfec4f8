"""Prepares the fault suite's private database, in a process of its own on the suite's settings.

``python -m tests.faults.prepare`` onboards 城中区 and 龙井市 from their shipped configuration and
gives each a window clerk with an API token and a supervisor (who receives deadline notices);
prints ``{slug: {"schema", "host", "token", "category"}}`` as JSON. Run after ``migrate_schemas --shared``.
"""

from __future__ import annotations

import json


def main() -> None:
    import django

    django.setup()
    from django.conf import settings
    from django_tenants.utils import tenant_context
    from rest_framework.authtoken.models import Token

    from casework.models import StaffProfile, StaffRole
    from tenants.config import county_config_read
    from tenants.services import county_onboard

    out = {}
    # A category whose cases get a reply deadline of some working days in each county.
    for slug, category in (("chengzhong", "simple"), ("longjing", "hard")):
        county = county_onboard(config=county_config_read(settings.COUNTY_CONFIG_DIR / f"{slug}.yaml")).county
        with tenant_context(county):
            from banchengshi.accounts.models import User

            clerk = User.objects.create_user(username="fault-clerk", password="Fault-drill-1")
            StaffProfile.objects.create(user=clerk, role=StaffRole.WINDOW_CLERK)
            boss = User.objects.create_user(username="fault-supervisor", password="Fault-drill-1")
            StaffProfile.objects.create(user=boss, role=StaffRole.SUPERVISOR)
            token = Token.objects.create(user=clerk).key
        out[slug] = {
            "schema": county.schema_name, "host": f"{slug}.{settings.COUNTY_DOMAIN_SUFFIX}", "token": token,
            "category": category,
        }  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main()
