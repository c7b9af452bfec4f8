"""The container files: no Docker engine runs here, so their essentials are checked as text and data.

docs/DEPLOY.md says how the image is built where an engine exists.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import re
import shutil
import subprocess
import types
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from banchengshi.celery import app

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def _dockerfile_stages() -> list[list[str]]:
    """Instructions of each stage, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text(encoding="utf-8"))
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_the_image_is_multi_stage_and_its_runtime_stage_runs_as_a_numeric_non_root_user():
    stages = _dockerfile_stages()
    assert len(stages) >= 2
    runtime = stages[-1]
    users = [line.split(None, 1)[1] for line in runtime if line.upper().startswith("USER ")]
    assert users, "the runtime stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0  # numeric, so runAsNonRoot can verify it
    # Nothing runs as root after the switch.
    after_user = runtime[runtime.index(next(line for line in runtime if line.startswith("USER "))) :]
    assert not any(line.startswith("RUN ") for line in after_user)


def test_the_runtime_stage_has_the_pdf_libraries_and_the_cjk_font_and_nothing_fetched_at_run_time():
    runtime = " ".join(_dockerfile_stages()[-1])
    for package in ("fonts-noto-cjk", "libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz-subset0"):
        assert package in runtime
    assert "--no-install-recommends" in runtime
    assert "rm -rf /var/lib/apt/lists/*" in runtime
    assert "COPY --from=build" in runtime
    assert not re.search(r"\bADD\s+https?://", runtime)
    assert "gcc" not in runtime and "build-essential" not in runtime


def test_the_image_has_one_entrypoint_for_every_process():
    runtime = _dockerfile_stages()[-1]
    entrypoint = next(line for line in runtime if line.startswith("ENTRYPOINT"))
    assert "/app/deploy/entrypoint.sh" in entrypoint
    script = (DEPLOY / "entrypoint.sh").read_text(encoding="utf-8")
    for command in ("web)", "worker)", "beat)", "migrate)", "manage)"):
        assert command in script
    assert "--prefetch-multiplier 1" in script
    environment = " ".join(line for line in runtime if line.startswith("ENV "))
    for variable in ("DJANGO_SETTINGS_MODULE=banchengshi.settings.production", "PROMETHEUS_MULTIPROC_DIR=/tmp/"):
        assert variable in environment


SH = shutil.which("sh")


@pytest.mark.skipif(SH is None, reason="no POSIX shell")
def test_the_entrypoint_parses_and_runs_one_off_commands():
    assert SH is not None
    assert subprocess.run([SH, "-n", str(DEPLOY / "entrypoint.sh")], check=False).returncode == 0
    result = subprocess.run(
        [SH, str(DEPLOY / "entrypoint.sh"), "echo", "one-off"], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "one-off"


def _fake_python(tmp_path: Path, fail_on: str = "") -> dict[str, str]:
    """A `python` first on PATH that writes down each call (and fails for ``fail_on``)."""
    calls = tmp_path / "calls"
    fake = tmp_path / "bin" / "python"
    fake.parent.mkdir()
    fake.write_text(
        f'#!/bin/sh\necho "$*" >> "{calls}"\ncase "$*" in *"{fail_on or "-never-"}"*) exit 3;; esac\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)
    return {**os.environ, "PATH": f"{fake.parent}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.skipif(SH is None, reason="no POSIX shell")
def test_migrate_runs_the_public_schema_then_every_county_with_our_executor(tmp_path):
    """ADR 8: `migrate_schemas --shared` (public), then `migrate_counties` with the given options."""
    assert SH is not None
    env = _fake_python(tmp_path)
    subprocess.run([SH, str(DEPLOY / "entrypoint.sh"), "migrate", "--verify"], env=env, check=True)  # noqa: S603
    calls = (tmp_path / "calls").read_text(encoding="utf-8").splitlines()
    assert calls == ["/app/manage.py migrate_schemas --shared", "/app/manage.py migrate_counties --verify"]


@pytest.mark.skipif(SH is None, reason="no POSIX shell")
def test_migrate_stops_when_the_public_schema_fails(tmp_path):
    assert SH is not None
    env = _fake_python(tmp_path, fail_on="migrate_schemas")
    result = subprocess.run([SH, str(DEPLOY / "entrypoint.sh"), "migrate"], env=env, check=False)  # noqa: S603
    assert result.returncode == 3
    assert (tmp_path / "calls").read_text(encoding="utf-8").splitlines() == ["/app/manage.py migrate_schemas --shared"]


def test_the_build_context_leaves_out_local_state():
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").split()
    for entry in (".git", ".venv", "var"):
        assert entry in ignored


def test_compose_runs_postgres_redis_web_worker_and_beat_with_health_checks_and_volumes():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "beat", "migrate"} <= set(services)
    for name in ("postgres", "redis", "web", "worker", "beat"):
        assert services[name]["healthcheck"]["test"], name
    assert {"pgdata", "redisdata", "media"} <= set(compose["volumes"])
    assert any(v.startswith("pgdata:") for v in services["postgres"]["volumes"])
    assert any(v.startswith("redisdata:") for v in services["redis"]["volumes"])
    images = {services[name]["image"] for name in ("web", "worker", "beat", "migrate")}
    assert len(images) == 1  # one image, every process
    commands = {name: services[name]["command"] for name in ("web", "worker", "beat", "migrate")}
    assert commands == {"web": ["web"], "worker": ["worker"], "beat": ["beat"], "migrate": ["migrate"]}
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert services[name]["read_only"] is True
        assert "/tmp" in services[name]["tmpfs"]  # noqa: S108 - the container's own tmpfs
    assert services["beat"]["deploy"]["replicas"] == 1
    assert "noeviction" in services["redis"]["command"]
    # Secrets come from the environment file, never from the compose file itself.
    environment = services["web"]["environment"]
    assert environment["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert environment["DJANGO_SETTINGS_MODULE"] == "banchengshi.settings.production"


def test_gunicorn_settings():
    spec = importlib.util.spec_from_file_location("gunicorn_conf", DEPLOY / "gunicorn.conf.py")
    assert spec and spec.loader
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    assert conf.preload_app is False  # no connection or metrics file shared across the fork
    assert conf.accesslog is None  # the request middleware writes the JSON access line
    assert 0 < conf.graceful_timeout <= 30 < conf.timeout + 30
    assert conf.max_requests > 0 and conf.max_requests_jitter > 0
    assert callable(conf.on_starting) and callable(conf.child_exit)
    handler = conf.logconfig_dict["handlers"]["console"]
    assert handler["filters"] == ["context", "personal_data"]


def test_gunicorn_workers_keep_the_loaded_app_out_of_the_garbage_collector():
    spec = importlib.util.spec_from_file_location("gunicorn_conf", DEPLOY / "gunicorn.conf.py")
    assert spec and spec.loader
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)
    worker = types.SimpleNamespace()
    try:
        conf.post_worker_init(worker)
        after_load = gc.get_freeze_count()
        assert after_load > 0
        leftovers = [[] for _ in range(1000)]  # what the first requests leave behind (lazy caches)
        for _ in range(conf._WARM_AFTER_REQUESTS):
            conf.post_request(worker, None, {}, None)
        assert gc.get_freeze_count() >= after_load + len(leftovers)
    finally:
        gc.unfreeze()


def test_celery_never_loses_a_task_and_never_runs_one_twice_at_once():
    assert settings.CELERY_TASK_ACKS_LATE is True
    assert settings.CELERY_TASK_REJECT_ON_WORKER_LOST is True
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT < visibility
    app.loader.import_default_modules()
    for name, task in app.tasks.items():
        assert (task.time_limit or 0) < visibility, name
