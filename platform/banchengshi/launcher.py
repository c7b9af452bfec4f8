"""``make run`` and ``make test``: the two commands a newcomer types.

``run`` starts the databases (embedded unless DATABASE_URL / REDIS_URL are set), migrates, loads
the demo counties, then runs web, Celery worker and Celery beat until Ctrl-C or SIGTERM stops all
of them. ``test`` runs ruff, mypy and pytest against a real PostgreSQL and Redis.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess  # noqa: S404 - this module's job is to start the platform's processes
import sys
import time
from pathlib import Path
from types import FrameType

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _services_env(settings_module: str) -> dict[str, str]:
    """The environment for child processes, with embedded servers started here if needed.

    The settings module is always the one given: importing this package has already set
    DJANGO_SETTINGS_MODULE to the local default (banchengshi/celery.py), so an inherited value
    cannot be trusted to be the caller's choice.
    """
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = settings_module
    if not env.get("DATABASE_URL") or not env.get("REDIS_URL"):
        from banchengshi import embedded

        if not env.get("DATABASE_URL"):
            env["DATABASE_URL"] = embedded.postgres_url()
            print(f"embedded PostgreSQL: {embedded.VAR_DIR / 'pgdata'}", flush=True)
        if not env.get("REDIS_URL"):
            env["REDIS_URL"] = embedded.redis_url()
            print(f"embedded Redis: {env['REDIS_URL']}", flush=True)
    return env


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, str(PROJECT_ROOT / "manage.py"), *args], env=env, check=True, cwd=PROJECT_ROOT)  # noqa: S603


# A developer's platform runs with DEBUG on: its error pages show settings and code, so it listens on
# this machine only unless told otherwise (BIND=0.0.0.0 make run, to show it on the network).
DEFAULT_BIND = "127.0.0.1"


def _port_free(port: str, host: str = DEFAULT_BIND) -> bool:
    """Whether gunicorn will be able to bind the port (checked before minutes of migrating)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn: TIME_WAIT is no obstacle
        try:
            probe.bind((host, int(port)))
        except OSError:
            return False
    return True


def run() -> int:
    port = os.environ.get("PORT", "8000")
    host = os.environ.get("BIND", DEFAULT_BIND)
    if not _port_free(port, host):
        print(
            f"port {port} is in use (another `make run`, or one left over?); stop it or pick another: "
            f"PORT=9000 make run",
            file=sys.stderr,
        )
        return 1
    env = _services_env(os.environ.get("BANCHENGSHI_RUN_SETTINGS", "banchengshi.settings.local"))
    env["PORT"] = port
    # _supervise gives the children 20 s after Ctrl-C: the worker puts back what still runs at 15 s.
    env.setdefault("WORKER_WARM_SHUTDOWN_SECONDS", "15")
    # The public schema through Django; every county through our executor (ADR 8): planned and
    # rendered once, one transaction per county, nothing to do is one query.
    _manage(env, "migrate_schemas", "--shared", "-v", "0")
    _manage(env, "migrate_counties", "-v", "0")
    _manage(env, "demo_load")
    _manage(env, "collectstatic", "--noinput", "-v", "0")
    processes = {
        "web": [
            str(BIN / "gunicorn"),
            "banchengshi.wsgi:application",
            "--bind",
            f"{host}:{port}",
            "--workers",
            os.environ.get("WEB_CONCURRENCY", "2"),
            "--timeout",
            "60",
            "--access-logfile",
            "-",
        ],
        "worker": [
            str(BIN / "celery"),
            "-A",
            "banchengshi",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            os.environ.get("CELERY_CONCURRENCY", "2"),
        ],
        "beat": [
            str(BIN / "celery"),
            "-A",
            "banchengshi",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(PROJECT_ROOT / "var" / "celerybeat-schedule"),
        ],
    }
    banner = (
        "\n办成事 is running. Open:\n"
        f"  provincial console  http://localhost:{port}/\n"
        f"  城中区               http://chengzhong.localhost:{port}/\n"
        f"  龙井市               http://longjing.localhost:{port}/\n"
        f"  邵阳县               http://shaoyang.localhost:{port}/\n"
        f"  health              http://localhost:{port}/readyz\n"
        "Press Ctrl-C to stop web, worker, beat and the embedded databases.\n"
    )
    return _supervise(processes, env, banner)


def _supervise(processes: dict[str, list[str]], env: dict[str, str], banner: str = "") -> int:
    """Start the processes, then stop all of them when one exits, on Ctrl-C, SIGTERM or SIGHUP.

    The children run in sessions of their own, so the terminal's signals reach only this process,
    which stops them in order (SIGTERM: gunicorn and Celery shut down gracefully; a second Ctrl-C
    reaching the worker directly would cut its tasks short, and gunicorn reloads on SIGHUP instead
    of stopping). Should this process die without clean-up, they get SIGTERM from the kernel.
    """
    from banchengshi.embedded import die_with_parent

    children = {
        name: subprocess.Popen(  # noqa: S603
            argv,
            env=env,
            cwd=PROJECT_ROOT,
            start_new_session=True,
            preexec_fn=die_with_parent(),  # noqa: PLW1509
        )
        for name, argv in processes.items()
    }
    if banner:
        print(banner, flush=True)
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    exit_code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                print(f"{name} exited with code {child.returncode}; stopping the platform.", flush=True)
                exit_code = child.returncode or 1
                stopping = True
        time.sleep(0.5)
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for child in children.values():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    return exit_code


def test(pytest_args: list[str]) -> int:
    steps = [
        [str(BIN / "ruff"), "check", "."],
        [str(BIN / "mypy")],
    ]
    for argv in steps:
        print(f"$ {' '.join(Path(argv[0]).name if i == 0 else a for i, a in enumerate(argv))}", flush=True)
        result = subprocess.run(argv, cwd=PROJECT_ROOT, check=False)  # noqa: S603
        if result.returncode != 0:
            return result.returncode
    env = _services_env("banchengshi.settings.test")
    print("$ pytest", flush=True)
    return subprocess.run([str(BIN / "pytest"), *pytest_args], env=env, cwd=PROJECT_ROOT, check=False).returncode  # noqa: S603


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "run":
        return run()
    if command == "test":
        return test(sys.argv[2:])
    print("usage: python -m banchengshi.launcher run|test [pytest arguments]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
