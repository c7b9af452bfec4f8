"""Changes cases as the web server would, in a process of its own, for the fault tests.

``python -m notifications.tests.fault_writer <schema> <count>`` registers ``count`` cases online in
that county (each puts a citizen SMS in the outbox and queues it after commit) and prints their ids.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> None:
    import django

    django.setup()
    from django_tenants.utils import tenant_context

    from casework import services as casework
    from tenants.models import County

    schema, count = argv[0], int(argv[1])
    ids = []
    with tenant_context(County.objects.get(schema_name=schema)):
        for number in range(count):
            intake = casework.CaseIntake(
                matter=f"不动产登记{number}", description="窗口说材料不齐", citizen_name="刘女士",
                citizen_phone=f"1391234{number:04d}", channel="online", kind_code="case",
            )  # fmt: skip
            ids.append(str(casework.case_register(actor=None, intake=intake).pk))
    print(json.dumps(ids))


if __name__ == "__main__":
    main(sys.argv[1:])
