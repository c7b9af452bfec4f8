"""Changes cases as the web server would, in a process of its own on the fault suite's settings.

``python -m tests.faults.writer <prefix> <count>`` registers ``count`` cases at the window of each
county the suite prepared (as its clerk) and accepts every other one, so the timeline, the
outbox, the deadline index and the audit trail all have rows; prints ``{slug: [case ids]}``.
"""

from __future__ import annotations

import json
import sys


def main(prefix: str, count: int) -> None:
    import django

    django.setup()
    from django_tenants.utils import tenant_context

    from banchengshi.accounts.models import User
    from casework import services
    from tenants.models import County

    # Categories with a reply deadline, so the cases have entries in the deadline index.
    categories = {"chengzhong": "simple", "longjing": "hard"}
    out: dict[str, list[str]] = {}
    for county in County.objects.order_by("slug"):
        with tenant_context(county):
            clerk = User.objects.get(username="fault-clerk")
            for number in range(count):
                intake = services.CaseIntake(
                    matter=f"{prefix}-{number}", description="备份演练", citizen_name="王先生",
                    citizen_phone=f"1380000{number:04d}", channel="window", kind_code="case",
                    category_code=categories.get(county.slug, ""),
                )  # fmt: skip
                case = services.case_register(actor=clerk, intake=intake)
                if number % 2:
                    services.case_accept(actor=clerk, case_id=case.pk, version=case.version)
                out.setdefault(county.slug, []).append(str(case.pk))
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
