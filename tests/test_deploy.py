"""The container files: no Docker engine runs here, so their essentials are checked as text and data.

docs/DEPLOY.md says how the image is built where an engine exists.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
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
    # Beat's health is the age of its heartbeat (a hung beat kept its schedule file for ever).
    assert services["beat"]["healthcheck"]["test"][:3] == ["CMD", "sh", "/app/deploy/beat-alive.sh"]
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


# --- the broker's visibility timeout against every countdown the code asks for (ADR 25) -------------

# The packages whose tasks the workers run (tests and migrations left out).
TASK_PACKAGES = ("platform/banchengshi", "tenants", "casework", "sla", "notifications", "reporting")


def _module_name(path: Path) -> str:
    relative = path.relative_to(ROOT / "platform" if path.is_relative_to(ROOT / "platform") else ROOT)
    return ".".join(relative.with_suffix("").parts)


def _code_countdowns() -> tuple[list[tuple[str, float]], list[str]]:
    """Every countdown and ETA the code passes when it queues or retries a task, in seconds.

    Found in the source (``countdown=``/``eta=`` keywords and ``{"countdown": ...}`` options) and
    evaluated in their module: a constant, an expression over module names, or a loop variable over
    a literal tuple. A function's parameter passed on (``countdown=countdown``) is counted at its
    callers. Anything else cannot be told without running the code: it is returned as unresolved.
    """
    import ast
    import importlib

    found: list[tuple[str, float]] = []
    unresolved: list[str] = []
    for package in TASK_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if {"tests", "migrations"} & set(path.relative_to(ROOT).parts):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
            sites: list[tuple[ast.AST, ast.expr, str]] = []
            for node in ast.walk(tree):
                if isinstance(node, ast.keyword) and node.arg in {"countdown", "eta"}:
                    sites.append((node, node.value, node.arg))
                elif isinstance(node, ast.Dict):
                    for dict_key, value in zip(node.keys, node.values, strict=True):
                        if isinstance(dict_key, ast.Constant) and dict_key.value in {"countdown", "eta"}:
                            sites.append((node, value, str(dict_key.value)))
            if not sites:
                continue
            module = importlib.import_module(_module_name(path))
            for site, value, kind in sites:
                where = f"{path.relative_to(ROOT)}:{value.lineno}"
                function = site
                while function in parents and not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    function = parents[function]
                candidates: list[ast.expr] = [value]
                if isinstance(value, ast.Name) and isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    arguments = function.args
                    if value.id in {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]}:
                        continue  # passed on: counted where it is called with a value
                    loops = [n.iter for n in ast.walk(function) if isinstance(n, ast.For)
                             and isinstance(n.target, ast.Name) and n.target.id == value.id
                             and isinstance(n.iter, ast.Tuple | ast.List)]  # fmt: skip
                    if loops and isinstance(loops[0], ast.Tuple | ast.List):
                        candidates = list(loops[0].elts)
                for candidate in candidates:
                    try:
                        seconds = eval(compile(ast.Expression(candidate), where, "eval"), vars(module))  # noqa: S307
                    except Exception:  # noqa: BLE001 - anything not computable from the module is unresolved
                        unresolved.append(f"{where}: {kind}={ast.unparse(value)}")
                        continue
                    if seconds is None:
                        continue
                    if kind == "eta" or not isinstance(seconds, int | float):
                        unresolved.append(f"{where}: {kind}={ast.unparse(value)}")
                        continue
                    found.append((where, float(seconds)))
    return found, unresolved


def _retry_countdowns() -> list[tuple[str, float]]:
    """The longest wait before a task's automatic retry (Celery's exponential backoff, capped)."""
    app.loader.import_default_modules()
    waits = []
    for name, task in app.tasks.items():
        if name.startswith("celery.") or not getattr(task, "autoretry_for", ()):
            continue
        # As celery.app.autoretry reads them, with its defaults.
        backoff = float(getattr(task, "retry_backoff", False))
        ceiling = int(getattr(task, "retry_backoff_max", 600))
        explicit = (getattr(task, "retry_kwargs", None) or {}).get("countdown")
        if backoff:
            factor = int(max(1.0, backoff))
            retries = range(task.max_retries) if task.max_retries is not None else range(64)
            waits.append((name, float(max(min(ceiling, factor * 2**r) for r in retries))))
        else:
            waits.append((name, float(task.default_retry_delay if explicit is None else explicit)))
    return waits


def test_the_visibility_timeout_outlasts_every_countdown_the_code_uses_plus_the_longest_run():
    """With Redis, a task queued with a countdown (or retried after a backoff) is taken by a worker at
    once and held unacknowledged until it is due, then runs: should countdown + run time exceed the
    visibility timeout, Redis hands the same message to another worker while the first still holds
    it, and the task runs twice (and again every timeout). base.py once said no task used a
    countdown; the calendar's recompute (90 s) and the retries' backoff (up to 600 s) did."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    found, unresolved = _code_countdowns()
    assert not unresolved, f"countdowns this test cannot evaluate (use a module constant): {unresolved}"
    assert len(found) >= 2, found  # the calendar's recomputes, at least: the search must find something
    waits = found + _retry_countdowns()
    longest_wait = max(seconds for _, seconds in waits)
    # The settings say what they allow for; the code keeps within it.
    assert longest_wait <= settings.TASK_COUNTDOWN_MAX_SECONDS, max(waits, key=lambda w: w[1])
    app.loader.import_default_modules()
    longest_run = max([settings.CELERY_TASK_TIME_LIMIT, *(t.time_limit or 0 for t in app.tasks.values())])
    assert longest_wait + longest_run < visibility, (max(waits, key=lambda w: w[1]), longest_run, visibility)


def test_the_visibility_timeout_is_no_longer_than_its_reasons():
    """Not the 2 hours it was: the longest countdown plus the hard time limit, with five minutes for
    the clocks of the machines and the restore sweep's round."""
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    longest_wait = max(seconds for _, seconds in _code_countdowns()[0] + _retry_countdowns())
    assert visibility <= settings.CELERY_TASK_TIME_LIMIT + longest_wait + 5 * 60


def test_the_countdown_search_finds_what_it_is_shown_and_refuses_what_it_cannot_tell(tmp_path, monkeypatch):
    package = tmp_path / "countdowns_demo"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "queueing.py").write_text(
        "WAIT = 120\n"
        "def queue(task, later=None):\n"
        "    task.apply_async(countdown=WAIT + 30)\n"
        "    task.apply_async(**({} if later is None else {'countdown': later}))\n"
        "    for delay in (None, 45):\n"
        "        task.apply_async(countdown=delay)\n"
        "    task.apply_async(eta=now() + 3600)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "TASK_PACKAGES", ("countdowns_demo",))
    found, unresolved = _code_countdowns()
    assert sorted(seconds for _, seconds in found) == [45.0, 150.0]
    assert unresolved == ["countdowns_demo/queueing.py:7: eta=now() + 3600"]


# --- `make run`: the launcher's children never outlive it ---------------------------------------


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return not _alive(pid)


def _launcher_with_a_child(tmp_path: Path) -> tuple[subprocess.Popen[bytes], int]:
    """A real launcher supervising one child that, like gunicorn, survives SIGHUP (gunicorn reloads).

    The launcher runs in its own session, as `make run` does in a terminal; returns it and the child's pid.
    """
    pid_file = tmp_path / "child.pid"
    child = (
        "import os, signal, time; signal.signal(signal.SIGHUP, signal.SIG_IGN); "
        f"open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    )
    driver = (
        "import sys; from banchengshi import launcher; "
        f"sys.exit(launcher._supervise({{'web': [sys.executable, '-c', {child!r}]}}, dict(__import__('os').environ)))"
    )
    launcher = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", driver], cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text()):
        assert time.monotonic() < deadline, "the child did not start"
        assert launcher.poll() is None, "the launcher exited"
        time.sleep(0.05)
    return launcher, int(pid_file.read_text())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal is Linux's")
def test_make_run_children_die_with_a_killed_launcher(tmp_path):
    """A launcher killed outright (OOM killer, kill -9) left gunicorn holding the port and a second
    beat running beside the next `make run`'s: every periodic task queued twice."""
    launcher, child = _launcher_with_a_child(tmp_path)
    try:
        launcher.kill()
        launcher.wait(10)
        assert _gone_within(child, 10), "the child outlived its launcher"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_make_run_stops_every_child_when_its_terminal_hangs_up(tmp_path):
    """Closing the terminal sends SIGHUP to the session's processes: gunicorn reloads on it and
    survived the launcher, which died of it without stopping anything."""
    launcher, child = _launcher_with_a_child(tmp_path)
    try:
        os.killpg(launcher.pid, signal.SIGHUP)  # what the terminal does to its foreground group
        launcher.wait(30)
        assert _gone_within(child, 10), "the child outlived its launcher"
    finally:
        if _alive(child):
            os.kill(child, signal.SIGKILL)


def test_make_run_says_the_port_is_taken_before_doing_anything_else(tmp_path):
    """A port in use was found only by gunicorn, after migrating and loading the demo counties,
    and took the whole platform down again; now it is the first thing checked, and named."""
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))  # noqa: S104 - the launcher binds every interface too
        taken.listen()
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "PORT": str(port),
            # Nothing listens here: had the launcher gone on to migrate, it would fail on the database instead.
            "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/nothing",
            "REDIS_URL": "redis://127.0.0.1:1/0",
        }
        result = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "banchengshi.launcher", "run"],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert result.returncode != 0
    assert f"port {port} is in use" in result.stderr
    assert "migrate" not in result.stdout + result.stderr.replace(f"port {port} is in use", "")


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def test_compose_passes_the_settings_the_docs_tell_operators_to_set():
    """The app services listed their environment by hand: SECRET_KEY_FALLBACKS (DEPLOY.md's key
    rotation), METRICS_ALLOWED_NETWORKS, EMAIL_PORT… written in .env never reached a container, so
    a rotation signed everyone out. Each app service now also reads the whole .env file."""
    services = _compose()["services"]
    for name in ("migrate", "web", "worker", "beat"):
        service = services[name]
        environment = service["environment"]
        for variable in ("SECRET_KEY_FALLBACKS", "METRICS_ALLOWED_NETWORKS", "EMAIL_PORT", "DEFAULT_FROM_EMAIL"):
            assert variable in environment, (name, variable)
        env_files = [e if isinstance(e, str) else e["path"] for e in service.get("env_file", [])]
        assert ".env" in env_files, name  # deploy/.env: anything else the operator sets (DB_CONN_MAX_AGE, …)
        optional = [e for e in service["env_file"] if isinstance(e, dict)]
        assert all(e.get("required") is False for e in optional), name


def test_compose_publishes_plain_http_only_to_the_tls_proxy_on_this_host():
    """Published on every interface, port 8000 let anyone skip the TLS proxy: plain HTTP (passwords
    typed at http://host:8000/), a forged X-Forwarded-Proto believed. Loopback unless WEB_BIND says."""
    (published,) = _compose()["services"]["web"]["ports"]
    assert published.startswith("${WEB_BIND:-127.0.0.1}:"), published


# --- a stopping worker puts back what it cannot finish (ADR 25) -------------------------------------


@pytest.fixture
def private_redis(tmp_path_factory: pytest.TempPathFactory):
    from tests.servers import PrivateRedis

    server = PrivateRedis(tmp_path_factory.mktemp("worker-redis"), append_only=False)
    server.start()
    yield server
    server.kill()


def _worker_env(redis_url: str, **extra: str) -> dict[str, str]:
    from conftest import database_url_for_processes

    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "DJANGO_SETTINGS_MODULE": "banchengshi.settings.test",
        "DATABASE_URL": database_url_for_processes(),
        "REDIS_URL": redis_url,
        "TEST_REDIS_DB": "0",
        "LOG_FORMAT": "plain",
        **extra,
    }


def _unacked(client) -> int:
    return int(client.hlen("unacked"))


def test_a_worker_stopped_with_a_task_running_puts_it_back_before_its_grace_period_ends(private_redis, tmp_path):
    """Kubernetes sends SIGTERM, waits terminationGracePeriodSeconds, then SIGKILL. A worker busy with
    a long task was killed holding it, and Redis gave the task to another worker only after the
    visibility timeout (2 h). WORKER_WARM_SHUTDOWN_SECONDS after SIGTERM the worker now stops the
    task and returns its message to the queue itself (a cold shutdown), and the next worker runs it."""
    from tests.processes import CeleryWorker, wait_for

    client = private_redis.client()
    marker = tmp_path / "starts"
    options = ["--pool", "prefork", "--concurrency", "1", "--loglevel", "INFO", "--include", "tests.worker_tasks",
               "--without-heartbeat", "--without-gossip", "--without-mingle"]  # fmt: skip
    env = _worker_env(private_redis.url, WORKER_WARM_SHUTDOWN_SECONDS="2")
    worker = CeleryWorker("stopping", options, env, tmp_path / "stopping.log")
    successor = CeleryWorker("successor", options, env, tmp_path / "successor.log")
    sender = app.__class__("sender", broker=private_redis.url, set_as_current=False)
    try:
        worker.start_ready()
        sender.send_task("tests.long_task", args=(str(marker), 600))
        wait_for(lambda: marker.exists(), seconds=60, what="the task to start", log=worker.log)
        assert client.llen("celery") == 0 and _unacked(client) == 1
        assert worker.process is not None
        stopped_at = time.monotonic()
        worker.process.send_signal(signal.SIGTERM)  # to the main process, as the kubelet does
        # A kubelet with a grace period of 15 s would kill it now: by then the task is back in the queue.
        wait_for(lambda: client.llen("celery") == 1 and _unacked(client) == 0, seconds=13,
                 what="the running task back in the queue", log=worker.log)  # fmt: skip
        assert time.monotonic() - stopped_at >= 2  # the warm part came first: a short task would have ended
        worker.process.wait(30)
        successor.start_ready()
        wait_for(lambda: marker.read_text().count("started") == 2, seconds=60, what="the next worker to run it",
                 log=successor.log)  # fmt: skip
    finally:
        sender.close()
        worker.kill()
        successor.kill()


def test_compose_gives_a_stopping_worker_time_to_put_its_tasks_back_before_it_is_killed():
    services = _compose()["services"]
    worker = services["worker"]
    grace = int(worker["stop_grace_period"].removesuffix("s"))
    default = re.fullmatch(
        r"\$\{WORKER_WARM_SHUTDOWN_SECONDS:-(\d+)\}", worker["environment"]["WORKER_WARM_SHUTDOWN_SECONDS"]
    )
    assert default, worker["environment"]["WORKER_WARM_SHUTDOWN_SECONDS"]
    warm = int(default[1])
    assert warm > 0 and warm + 15 <= grace
    # Everything else the app services share is still there.
    assert worker["environment"]["SECRET_KEY"] == services["web"]["environment"]["SECRET_KEY"]
    assert set(services["web"]["environment"]) < set(worker["environment"])
