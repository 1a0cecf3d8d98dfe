"""The application served over HTTP for the load and window benchmarks: gunicorn (and a Celery
worker when asked) on a free local port, against the benchmark's own database."""

import os
import socket
import subprocess
import sys
import time

import requests
from _db import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(url, proc, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            if proc.poll() is not None:
                sys.exit("gunicorn exited at start-up")
            time.sleep(0.3)
    sys.exit("gunicorn did not start")


def server_env(url: str, redis_url: str, **extra: str) -> dict:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "ALLOWED_HOSTS": "127.0.0.1",
        "DB_CONN_MAX_AGE": "60",
        **extra,
    }


def start_gunicorn(env: dict, *, workers: int, threads: int = 1, timeout: int = 120):
    """gunicorn on a free port; returns (process, base URL). The caller waits with ``wait_up``
    and terminates it."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "healthaid.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--timeout",
            str(timeout),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    return server, f"http://127.0.0.1:{port}"
