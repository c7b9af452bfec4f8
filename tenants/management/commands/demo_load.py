import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from tenants.services import demo_accounts_ensure


class Command(BaseCommand):
    help = "Load the demo counties shipped with the platform and create their demo accounts."

    def handle(self, *args: Any, **options: Any) -> None:
        files = sorted(Path(settings.COUNTY_CONFIG_DIR).glob("*.yaml"))
        call_command("county_onboard", *[str(f) for f in files], stdout=self.stdout, stderr=self.stderr)
        accounts = demo_accounts_ensure()
        if not accounts:
            self.stdout.write("Demo accounts already exist; their passwords were shown when they were made.")
            return
        lines = [f"http://{a.host}:{os.environ.get('PORT', '8000')}/  {a.username}  {a.password}" for a in accounts]
        record = settings.PROJECT_ROOT / "var" / "demo-accounts.txt"
        record.parent.mkdir(parents=True, exist_ok=True)
        with record.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        record.chmod(0o600)
        self.stdout.write("Demo accounts (shown once; also kept in var/demo-accounts.txt):")
        for line in lines:
            self.stdout.write(f"  {line}")
