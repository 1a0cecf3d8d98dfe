"""Real Celery worker subprocesses for integration tests (``celery_worker_process`` in
conftest.py; tests that kill and restart a worker call these directly)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _redis_url():
    return os.environ.get("REDIS_URL", "")


def require_worker_environment() -> None:
    """Skip the test (fail it on CI) unless Redis and PostgreSQL are there."""
    if not _redis_url():
        if os.environ.get("CI"):
            pytest.fail("CI must set REDIS_URL: integration tests need a real broker")
        pytest.skip("REDIS_URL is not set: integration tests need Redis and PostgreSQL")
    from django.db import connection

    if connection.vendor != "postgresql":
        if os.environ.get("CI"):
            pytest.fail("CI must run integration tests on PostgreSQL")
        pytest.skip("integration tests need PostgreSQL (DATABASE_URL)")


def start_worker(*, concurrency: int = 2, env: dict | None = None, purge: bool = True) -> subprocess.Popen:
    """Start a worker on the test database and wait for it to answer a ping. Skips (fails on
    CI) without Redis and PostgreSQL. ``env`` adds environment variables for the worker."""
    require_worker_environment()
    from django.db import connection

    from healthaid.celery import app

    if purge:
        app.control.purge()
    settings_dict = connection.settings_dict
    database_url = (
        f"postgres://{settings_dict['USER']}:{settings_dict['PASSWORD'] or ''}@"
        f"{settings_dict['HOST'] or '127.0.0.1'}:{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"
    )
    from django.conf import settings as django_settings

    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": _redis_url(),
        "MEDIA_ROOT": str(django_settings.MEDIA_ROOT),
        **(env or {}),
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "healthaid",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "warning",
            "--without-gossip",
            "--without-mingle",
            "--hostname",
            f"test-{os.getpid()}-{time.monotonic_ns()}@%h",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if app.control.ping(timeout=0.5):
            break
        if worker.poll() is not None:
            pytest.fail("the Celery worker exited at start-up")
    else:
        worker.kill()
        pytest.fail("the Celery worker did not answer a ping within 60 s")
    return worker


def stop_worker(worker: subprocess.Popen) -> None:
    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()


def kill_worker(worker: subprocess.Popen) -> None:
    """SIGKILL the worker and its pool processes at once (a power cut, an OOM kill): no
    task gets acknowledged, nothing is cleaned up."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == worker.pid:
            children.append(int(stat.parent.name))
    for pid in [worker.pid, *children]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    worker.wait(timeout=20)
