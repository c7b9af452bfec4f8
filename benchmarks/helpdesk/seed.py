"""Migrates the helpdesk database and fills one queue with tickets; prints the credentials as JSON.

    python -m benchmarks.helpdesk.seed --tickets 10000   (under the helpdesk virtualenv)

The benchmark drops and creates the database before; the tickets go in by one SQL statement each
for tickets and their opening follow-ups, as ``bench_casework_api.py`` seeds its cases.
"""

import argparse
import json
import os
import time

import django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=10_000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.helpdesk.settings")
    django.setup()

    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import connection
    from helpdesk.models import Queue
    from rest_framework.authtoken.models import Token

    call_command("migrate", verbosity=0)
    queue = Queue.objects.create(title="Citizen requests", slug="citizen", allow_public_submission=True)
    staff = get_user_model().objects.create_user(
        username="bench-staff", email="staff@example.com", password=os.urandom(16).hex(), is_staff=True
    )
    token = Token.objects.create(user=staff).key
    # A logged-in browser session, as the login form would leave it; the staff pages take no token.
    session = SessionStore()
    session["_auth_user_id"] = str(staff.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = staff.get_session_auth_hash()
    session.create()

    started = time.perf_counter()
    with connection.cursor() as cursor:
        # Two in three open (1 open, 2 reopened; 4 closed), so the default staff list, which
        # shows open and reopened tickets, pages through about 6,700 of them.
        cursor.execute(
            """
            INSERT INTO helpdesk_ticket (title, queue_id, created, modified, submitter_email, status,
                on_hold, description, resolution, priority, secret_key)
            SELECT 'Request ' || g, %s, now() - (g || ' minutes')::interval, now(),
                'citizen' || (g %% 5000) || '@example.com', (ARRAY[1, 2, 4])[1 + g %% 3], false,
                'Description of request ' || g, '', 1 + g %% 5, gen_random_uuid()::text
            FROM generate_series(1, %s) AS g
            """,
            [queue.pk, args.tickets],
        )
        # The follow-up every ticket opened through helpdesk gets; the list shows its date.
        cursor.execute(
            """
            INSERT INTO helpdesk_followup (ticket_id, date, title, comment, public, user_id, new_status,
                message_id, time_spent, email_recipients)
            SELECT id, created, 'Ticket Opened', description, true, %s, NULL, NULL, NULL, '[]'
            FROM helpdesk_ticket
            """,
            [staff.pk],
        )
        cursor.execute("ANALYZE")
    seeded = time.perf_counter() - started
    print(json.dumps({"token": token, "session": session.session_key, "queue": queue.pk, "seconds": seeded}))


if __name__ == "__main__":
    main()
