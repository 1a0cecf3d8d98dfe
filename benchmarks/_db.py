"""Benchmark scaffolding: a PostgreSQL database of the benchmark's own, created fresh and
migrated, so figures are not disturbed by (and never disturb) anybody's data."""

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def use_fresh_database(name: str) -> str:
    """Point DATABASE_URL at a new empty PostgreSQL database ``name`` (followed by
    ``BENCH_DATABASE_SUFFIX`` when set, so that people sharing a server do not drop each
    other's benchmark databases), set Django up and migrate. Returns the URL."""
    name += os.environ.get("BENCH_DATABASE_SUFFIX", "")
    base = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_ADMIN_URL
    parsed = urlparse(base)
    if parsed.scheme not in ("postgres", "postgresql"):
        sys.exit("make bench needs PostgreSQL: set BENCH_DATABASE_URL=postgres://…")
    admin = parsed._replace(path="/postgres").geturl()
    url = parsed._replace(path=f"/{name}").geturl()
    import psycopg2

    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "healthaid.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def drop_database(url: str) -> None:
    """Drop the benchmark database ``url`` names (after closing Django's connections to it)."""
    import psycopg2
    from django.db import connections

    connections.close_all()
    parsed = urlparse(url)
    conn = psycopg2.connect(parsed._replace(path="/postgres").geturl())
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{parsed.path.lstrip("/")}" WITH (FORCE)')
    conn.close()


@contextmanager
def timed(label: str, results: dict):
    start = time.perf_counter()
    yield
    results[label] = time.perf_counter() - start


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}"


def run(cmd, **kwargs):
    return subprocess.run(cmd, check=True, **kwargs)
