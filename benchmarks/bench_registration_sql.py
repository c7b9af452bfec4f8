"""PostgreSQL's own CPU for a registration's statements, by how they are sent: no Python in the figures.

    .venv/bin/python benchmarks/bench_registration_sql.py [--cases 20000] [--requests 2000]

Builds the database of ``bench_casework_api.py``, sends one bare create and one registration
through Django's test client and records the SQL each sent. It then replays that SQL on a
connection of its own, with fresh ids, numbers and codes each time. For each way of sending it,
it prints the backend's CPU per request, read from ``/proc/<pid>/stat``; this needs a server on
this machine. The ways are:

- the bare create (search_path, token read, INSERT);
- the registration as it is sent now;
- the same statements one round trip each, as before ADR 20;
- the same statements with everything from BEGIN to COMMIT in one query string;

then the registration's statements one by one, with each one's share.

The client's CPU is not counted, so this is the database's share alone: the floor under any
Python. It asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def backend_cpu_seconds(pid: int) -> float:
    """The backend's CPU so far: nanoseconds from ``schedstat`` where the kernel keeps them, else ticks."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def captured(client: Any, path: str, token: str, body: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _warm in range(3):
        client.post(path, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}")
    with CaptureQueriesContext(connection) as sent:
        response = client.post(
            path, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}"
        )
    assert response.status_code == 201, response.content  # noqa: S101 - a benchmark's own precondition
    return [query["sql"] for query in sent], response.json()


def fresh(messages: list[str], unique: list[str], n: int) -> list[str]:
    """The messages with every value that must be unique replaced by one of the same length."""
    out = []
    for message in messages:
        for value in unique:
            message = message.replace(value, _like(value, n))
        out.append(message)
    return out


def _like(value: str, n: int) -> str:
    if value.isdigit():
        return f"{n:0{len(value)}d}"[-len(value) :]
    if re.fullmatch(r"[0-9a-f]{32}", value):
        return uuid.UUID(int=n + (1 << 100)).hex
    if re.fullmatch(r"[0-9a-f-]{36}", value):
        return str(uuid.UUID(int=n + (1 << 100)))
    digits = str(n)
    return value[: len(value) - len(digits)] + digits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()

    from benchmarks.bench_casework_api import prepare

    tokens = prepare(args.cases)
    import psycopg
    from django.db import connection
    from django.test import Client

    client = Client(HTTP_HOST="chengzhong.localhost")
    intake = {"matter": "压测事项", "description": "压测", "citizen_name": "压测", "citizen_phone": "13812345678",
              "channel": "window", "kind": "case", "window": "district-hall", "category": "simple",
              "departments": ["scjgj"]}  # fmt: skip
    bare, _created = captured(client, "/bench/bare/", tokens["supervisor"], {"name": "x"})
    now, case = captured(client, "/api/v1/cases/create/", tokens["window_clerk"], intake)
    # What must differ from one replayed registration to the next: ids, number, codes, keys.
    case_id = uuid.UUID(case["id"])
    notification = re.search(r"INSERT INTO \"notifications_notification\" .*? VALUES \('([0-9a-f]{32})'", " ".join(now))
    assert notification is not None  # noqa: S101 - the registration sends its SMS
    unique = [case_id.hex, str(case_id), notification.group(1), case["number"], case["tracking_code"]]
    bare_key = re.search(r"VALUES \('([0-9a-f]{10})'", bare[-1])
    assert bare_key is not None  # noqa: S101 - the bare create's key column
    statements = [part for message in now for part in message.split(";\n")]
    begin, commit = statements.index("BEGIN"), statements.index("COMMIT")
    ways = {
        "bare create": (bare, [bare_key.group(1)]),
        "registration, as sent now": (now, unique),
        "registration, a round trip each": (statements, unique),
        "registration, BEGIN..COMMIT in one": (
            [*statements[:begin], ";\n".join(statements[begin : commit + 1])],
            unique,
        ),
    }
    settings = connection.settings_dict
    url = f"postgresql://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    print(f"\nPostgreSQL backend CPU per request, {args.requests} requests each (no Python counted)")
    print(f"{'way':40} {'round trips':>11} {'µs':>8}")
    serial = int(time.time()) % 10_000_000
    # Client-side binding, as Django sends them: the simple query protocol, several statements a string.
    with psycopg.connect(
        url, autocommit=True, password=settings.get("PASSWORD") or None, cursor_factory=psycopg.ClientCursor
    ) as conn:
        pid = conn.info.backend_pid
        for label, (messages, values) in ways.items():
            replays = [fresh(messages, values, serial + n) for n in range(args.requests)]
            serial += args.requests
            before = backend_cpu_seconds(pid)
            for replay in replays:
                for message in replay:
                    conn.execute(message.encode())  # bytes: sent as it is, no placeholders
            spent = (backend_cpu_seconds(pid) - before) / args.requests * 1e6
            print(f"{label:40} {len(messages):>11} {spent:8.0f}")

        # Where it goes: the registration one round trip a statement, each statement's CPU read
        # between statements (the backend is idle then, so its account is up to date).
        per_statement = [0.0] * len(statements)
        for n in range(args.requests):
            for i, message in enumerate(fresh(statements, unique, serial + n)):
                before = backend_cpu_seconds(pid)
                conn.execute(message.encode())
                per_statement[i] += backend_cpu_seconds(pid) - before
        print("\nthe registration statement by statement, a round trip each (µs)")
        for statement, spent_on in zip(statements, per_statement, strict=True):
            print(f"{spent_on / args.requests * 1e6:8.0f}  {' '.join(statement.split())[:100]}")


if __name__ == "__main__":
    main()
