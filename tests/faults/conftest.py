"""The fault suite's private installation: its own PostgreSQL and Redis, migrated and prepared once.

Nothing here uses the test database of pytest-django or the machine's shared servers: the suite
restarts its servers, so they must be its own.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from tests.processes import ROOT
from tests.servers import PrivatePostgres, PrivateRedis

DATABASE = "banchengshi"
SMS_SECRET = "fault-suite-secret"


@dataclass
class Installation:
    directory: Path
    postgres: PrivatePostgres
    redis: PrivateRedis
    counties: dict[str, dict[str, str]]  # slug -> schema, host, token

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of every process of the installation."""
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "DJANGO_SETTINGS_MODULE": "tests.faults.settings",
            "DATABASE_URL": self.postgres.url(DATABASE),
            "REDIS_URL": self.redis.url,
            "TEST_REDIS_DB": "0",
            "MEDIA_ROOT": str(self.directory / "media"),
            "CELERY_BEAT_SCHEDULE_FILENAME": str(self.directory / "celerybeat-schedule"),
            "PROMETHEUS_MULTIPROC_DIR": str(self.directory / "prometheus"),
            "SMS_SECRET": SMS_SECRET,
            "LOG_FORMAT": "plain",
            **extra,
        }

    def run(self, *argv: str, timeout: float = 600) -> str:
        done = subprocess.run(
            [sys.executable, *argv], cwd=ROOT, env=self.env(), capture_output=True, timeout=timeout, check=False
        )
        if done.returncode != 0:
            pytest.fail(f"{' '.join(argv)} failed:\n{done.stderr.decode(errors='replace')[-4000:]}")
        return done.stdout.decode()

    def query(self, statement: str, params: Any = None, database: str = DATABASE, *, schema: str = "") -> list[Any]:
        """Rows of one statement; ``{schema}`` in it names a schema, quoted as an identifier."""
        query = sql.SQL(statement).format(schema=sql.Identifier(schema)) if schema else sql.SQL(statement)
        with self.postgres.connect(database) as connection:
            return connection.execute(query, params).fetchall()


@pytest.fixture(scope="session")
def installation() -> Iterator[Installation]:
    # Not pytest's tmp_path: PostgreSQL runs as another user when the tests run as root, and
    # pytest's directories are private to the user running the tests.
    directory = Path(tempfile.mkdtemp(prefix="bcs-faults-"))
    directory.chmod(0o755)
    postgres = PrivatePostgres(directory / "postgres")
    (directory / "redis").mkdir()
    redis_server = PrivateRedis(directory / "redis")
    try:
        postgres.start()
        with postgres.connect() as connection:
            connection.execute(f"CREATE DATABASE {DATABASE}")
        redis_server.start()
        made = Installation(directory, postgres, redis_server, {})
        made.run(str(ROOT / "manage.py"), "migrate_schemas", "--shared", "-v", "0")
        made.counties = json.loads(made.run("-m", "tests.faults.prepare").strip().splitlines()[-1])
        yield made
    finally:
        redis_server.stop()
        postgres.stop("immediate")
        if os.environ.get("BCS_FAULTS_KEEP"):  # to read the processes' logs afterwards
            print(f"fault suite directory kept: {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
