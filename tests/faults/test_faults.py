"""Faults under a real Celery worker (CI runs these, like the other worker tests): Redis
restarted during a roster import, and the worker's PostgreSQL sessions terminated during a
roster import and a settlement batch. In every case the work ends done exactly once — counts
equal to a clean import, money equal to the pure engine — and never half-written.

Determinism: nothing here waits for a fault to "probably" land mid-task. The test holds a lock
the task needs (a table lock on the members table, which the import writes after its
households; advisory locks of members inside two settlement chunks), waits until PostgreSQL
shows the worker's session waiting for it, injects the fault, and only then lets go. Waits are
polls with generous time-outs; nothing asserts how long anything took.

Only what the test started is touched: its own redis-server on a free port (never the shared
one), and, in the test database, the sessions of its own worker, which it recognises by their
``application_name`` (PGAPPNAME in the worker's environment).
"""

import os
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from types import SimpleNamespace

import psycopg2
import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from registry import services as registry_services
from registry import tasks as registry_tasks
from registry.demo import synthetic_roster, write_xlsx
from registry.models import Household, Member, RosterImport, Township, Village
from settlement import services as settlement_services
from settlement.models import Settlement, SettlementLine, SettlementRun
from tests.settlement.test_settlement_worker import _check_against_the_engine, _wait_for_run, county_year  # noqa: F401
from tests.workers import require_worker_environment, start_worker, stop_worker

pytestmark = pytest.mark.integration

TIMEOUT = 300  # seconds; the CI machine is slow and shared
WORKER_APP = f"healthaid-faults-worker-{os.getpid()}"
ROSTER_HOUSEHOLDS = 1200  # about 4,000 members


def _until(condition, what: str, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"waited {timeout} s for {what}")


# --- PostgreSQL: sessions of the test's own, beside Django's -----------------------------------


@contextmanager
def _session(*, autocommit: bool):
    s = connection.settings_dict
    conn = psycopg2.connect(
        dbname=s["NAME"],
        user=s["USER"],
        password=s["PASSWORD"] or None,
        host=s["HOST"] or "127.0.0.1",
        port=s["PORT"] or 5432,
        application_name=f"healthaid-faults-test-{os.getpid()}",
    )
    conn.autocommit = autocommit
    try:
        yield conn
    finally:
        conn.close()


def _waiting_worker_sessions(observer, *, besides=()) -> set[int]:
    """The worker's sessions waiting for a lock (``observer`` is in autocommit: in a transaction
    pg_stat_activity would be a snapshot)."""
    with observer.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = %s AND wait_event_type = 'Lock'",
            [WORKER_APP],
        )
        return {pid for (pid,) in cursor.fetchall()} - set(besides)


def _terminate_worker_sessions(observer) -> set[int]:
    """pg_terminate_backend on every session of our worker in the test database, whatever it is
    doing (waiting for a lock mid-transaction, working, or idle between tasks)."""
    with observer.cursor() as cursor:
        cursor.execute(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = %s",
            [WORKER_APP],
        )
        return {pid for pid, terminated in cursor.fetchall() if terminated}


def _hold_members_table(blocker) -> None:
    """Block every insert into the members table (reads still pass) until ``blocker`` rolls
    back. The import inserts members after its households, in the same transaction: holding
    it there leaves an import half-written and uncommitted."""
    with blocker.cursor() as cursor:
        cursor.execute(f'LOCK TABLE "{Member._meta.db_table}" IN SHARE ROW EXCLUSIVE MODE')


def _job_row_locked(observer, job_id: int) -> bool:
    """Whether a transaction (the import's) still holds the job's row."""
    with observer.cursor() as cursor:
        try:
            cursor.execute(
                f'SELECT id FROM "{RosterImport._meta.db_table}" WHERE id = %s FOR UPDATE NOWAIT', [job_id]
            )
        except psycopg2.errors.LockNotAvailable:
            return True
    return False


# --- Redis: a server of the test's own ---------------------------------------------------------


class RedisServer:
    """A redis-server on a free port of 127.0.0.1, with its data in ``directory``.

    Persistence: append-only file, fsync'd at every write, no snapshots. A production broker
    must keep its queue across a restart (Redis's own default keeps periodic snapshots, lost
    since the last one on a crash); the AOF keeps everything, so a SIGKILL here is a crash
    after which Redis comes back with every queued and unacknowledged message, as a durable
    production Redis would. What the tests prove does not depend on it: the import's message
    is already in the worker when Redis goes, and the retry is published after Redis is back."""

    def __init__(self, directory):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            if os.environ.get("CI"):
                pytest.fail("CI must have redis-server: the Redis fault tests start their own")
            pytest.skip("redis-server is not installed")
        self.directory = directory
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.directory),
                "--logfile",
                str(self.directory / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)

        def answers():
            if self.process.poll() is not None:
                pytest.fail(f"redis-server exited: {(self.directory / 'redis.log').read_text()[-2000:]}")
            try:
                return client.ping()  # BusyLoadingError while it reads its AOF
            except redis.exceptions.RedisError:
                return False

        _until(answers, f"redis-server on port {self.port}", timeout=60)
        client.close()

    def stop(self, how: signal.Signals) -> None:
        self.process.send_signal(how)
        self.process.wait(timeout=60)


def _point_celery_at(broker: str, backend: str | None) -> None:
    """This process's Celery app (sending tasks, pinging the worker, reading results) on
    ``broker`` and ``backend``."""
    from healthaid.celery import app

    app.conf.broker_url, app.conf.result_backend = broker, backend
    app._pool = None  # rebuilt from the new URL on next use
    app.amqp._producer_pool = None
    app._local.__dict__.pop("backend", None)


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of this test's, with this process's Celery app pointed at it (the worker
    gets it through REDIS_URL: broker, results and the cache that carries import progress)."""
    require_worker_environment()
    from healthaid.celery import app

    server = RedisServer(tmp_path)
    server.start()
    saved = app.conf.broker_url, app.conf.result_backend
    _point_celery_at(server.url, server.url)
    try:
        yield server
    finally:
        _point_celery_at(*saved)
        if server.process.poll() is None:
            server.stop(signal.SIGKILL)


# --- the roster ----------------------------------------------------------------------------------


@pytest.fixture
def roster_job(transactional_db, county_user, tmp_path):
    """An uploaded roster of ~1,200 households, new areas included, not yet previewed."""
    require_worker_environment()
    rows = synthetic_roster(ROSTER_HOUSEHOLDS, seed=66)
    path = tmp_path / "roster.xlsx"
    write_xlsx(rows, path)
    job = registry_services.roster_job_create(
        user=county_user,
        uploaded_file=SimpleUploadedFile("roster.xlsx", path.read_bytes()),
        create_areas=True,
        skip_invalid=False,
    )
    return SimpleNamespace(job=job, rows=rows, user=county_user)


def _wait_for_job(job_id: int, status: str) -> RosterImport:
    return _until(
        lambda: RosterImport.objects.filter(pk=job_id, status=status).first(), f"roster job {status}"
    )


def _preview_and_confirm(roster) -> dict:
    """The worker previews the file (a dry run: what a clean import of it does); the user
    confirms. Returns the preview."""
    registry_tasks.run_roster_job.delay(roster.job.pk, False)
    job = _wait_for_job(roster.job.pk, RosterImport.Status.PREVIEWED)
    assert not job.preview["refused"] and job.preview["members_created"] == len(roster.rows) - 1
    registry_services.roster_job_confirm(user=roster.user, job=job)
    return job.preview


def _nothing_imported() -> None:
    assert Household.objects.count() == Member.objects.count() == 0
    assert Township.objects.count() == Village.objects.count() == 0
    assert Household.history.count() == Member.history.count() == 0


def _imported_once(roster, preview: dict) -> None:
    """The file imported whole, exactly once: what its clean preview announced, every household
    with all its members, one history record per row."""
    job = RosterImport.objects.get(pk=roster.job.pk)
    assert job.status == RosterImport.Status.DONE
    counted = (
        "households_created",
        "members_created",
        "households_updated",
        "members_updated",
        "members_unchanged",
        "rows_skipped",
    )
    assert {k: job.result[k] for k in counted} == {k: preview[k] for k in counted}
    assert Household.objects.count() == preview["households_created"] == len({r[2] for r in roster.rows[1:]})
    assert Member.objects.count() == preview["members_created"]
    in_file = {}
    for row in roster.rows[1:]:
        in_file[row[2]] = in_file.get(row[2], 0) + 1
    stored = {}
    for number in Member.objects.values_list("household__number", flat=True):
        stored[number] = stored.get(number, 0) + 1
    assert stored == in_file
    assert Village.objects.count() == len({(r[0], r[1]) for r in roster.rows[1:]})
    # Had an attempt been committed twice (or a duplicate run the import again), there would
    # be a second history record per row, or a result of "unchanged" rows.
    assert Household.history.count() == Household.objects.count()
    assert Member.history.count() == Member.objects.count()


@contextmanager
def _import_held_at_the_members(roster, **env):
    """Start a worker (``env`` added to its environment), have it preview the roster, confirm,
    and send the import while inserts into the members table are held: yields once the import
    waits there, its households written but not committed. Roll back ``held.blocker`` to let
    it go on. The worker stops when the block ends."""
    worker = start_worker(env={"PGAPPNAME": WORKER_APP, **env})
    try:
        preview = _preview_and_confirm(roster)
        with _session(autocommit=False) as blocker, _session(autocommit=True) as observer:
            _hold_members_table(blocker)
            registry_tasks.run_roster_job.delay(roster.job.pk, True)
            waiting = _until(lambda: _waiting_worker_sessions(observer), "the import to reach the members")
            yield SimpleNamespace(preview=preview, blocker=blocker, observer=observer, waiting=waiting)
    finally:
        stop_worker(worker)


# --- 1. Redis restarted during a roster import ---------------------------------------------------


def test_redis_crashes_and_restarts_mid_import_the_import_completes(roster_job, own_redis):
    """Redis is SIGKILLed (a crash) and started again on the same port while the import is
    half-written in its transaction. The worker reconnects; the import, which next needs Redis
    for a progress write, finds it back and commits once; the worker takes new tasks."""
    with _import_held_at_the_members(roster_job, REDIS_URL=own_redis.url) as held:
        own_redis.stop(signal.SIGKILL)
        own_redis.start()
        _nothing_imported()  # households written, not committed
        held.blocker.rollback()
        _wait_for_job(roster_job.job.pk, RosterImport.Status.DONE)
        _imported_once(roster_job, held.preview)
        # The worker is back on the restarted broker, and running the import again is a no-op.
        again = registry_tasks.run_roster_job.delay(roster_job.job.pk, True)
        assert again.get(timeout=TIMEOUT) == RosterImport.Status.DONE
        _imported_once(roster_job, held.preview)


def test_redis_down_when_the_import_needs_it_rolls_back_then_retries(roster_job, own_redis):
    """Redis is stopped while the import is half-written, and stays down while the import goes
    on to its next progress write, which fails: the whole import rolls back (nothing of it
    stays, the job is still 正在导入, so it can run again). The task's retry waits for the broker;
    once Redis is back it imports the file, once."""
    with _import_held_at_the_members(roster_job, REDIS_URL=own_redis.url) as held:
        own_redis.stop(signal.SIGTERM)
        held.blocker.rollback()
        _until(
            lambda: not _job_row_locked(held.observer, roster_job.job.pk), "the import's transaction to end"
        )
        _nothing_imported()
        assert RosterImport.objects.get(pk=roster_job.job.pk).status == RosterImport.Status.IMPORTING
        own_redis.start()
        _wait_for_job(roster_job.job.pk, RosterImport.Status.DONE)
        _imported_once(roster_job, held.preview)


# --- 2. The worker's database sessions terminated mid-task ---------------------------------------


def test_database_sessions_killed_twice_mid_import_the_retry_imports_once(roster_job):
    """The import's session is terminated while it holds the households it wrote (twice: the
    first retry is terminated at the same point). Each attempt rolls back whole; the third
    commits, once."""
    with _import_held_at_the_members(roster_job) as held:
        terminated = _terminate_worker_sessions(held.observer)
        assert held.waiting <= terminated
        _nothing_imported()
        retry = _until(
            lambda: _waiting_worker_sessions(held.observer, besides=terminated),
            "the retry of the import to reach the members",
        )
        assert retry <= _terminate_worker_sessions(held.observer)
        _nothing_imported()
        held.blocker.rollback()
        _wait_for_job(roster_job.job.pk, RosterImport.Status.DONE)
        _imported_once(roster_job, held.preview)


def test_database_sessions_killed_mid_batch_nothing_is_paid_twice(county_year, county_user):  # noqa: F811
    """A county year's batch (chunks of 50 members) with two chunks held on a member's advisory
    lock; the worker's sessions are terminated with both pool processes inside those chunks,
    then again when both are back in them (their retries). Every chunk is retried and done
    once: the stored settlements equal the pure engine's, nothing superseded, and a
    re-settlement finds everything unchanged. (Sessions idle between tasks are not a case:
    Celery's Django fix-up closes a task's connections when it ends, whatever CONN_MAX_AGE.)"""
    from settlement import selectors

    env = {"SETTLEMENT_CHUNK_MEMBERS": "50", "PGAPPNAME": WORKER_APP}
    members = selectors.member_ids_to_settle(2025)
    held = [members[2 * 50 + 10], members[5 * 50 + 10]]  # inside chunks 2 and 5
    worker = start_worker(env=env)
    try:
        terminated = set()
        with _session(autocommit=True) as blocker, _session(autocommit=True) as observer:
            with blocker.cursor() as cursor:
                for member_id in held:
                    cursor.execute("SELECT pg_advisory_lock(%s, 2025)", [member_id])
            run = settlement_services.settlement_run_start(user=county_user, kind="settle_year", year=2025)
            for _ in range(2):
                _until(
                    lambda: len(_waiting_worker_sessions(observer, besides=terminated)) == 2,  # noqa: B023
                    "both pool processes to wait inside the held chunks",
                )
                killed = _terminate_worker_sessions(observer)
                assert len(killed) >= 2
                terminated |= killed
                assert SettlementRun.objects.get(pk=run.pk).status == "running"
            with blocker.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock_all()")
            run = _wait_for_run(run.pk, timeout=TIMEOUT)
            assert run.done == run.total == county_year["_patients"]
            assert not run.chunks.filter(done=False).exists()
            _check_against_the_engine(run, county_year)
            assert SettlementLine.objects.filter(settlement__is_current=False).count() == 0

        again = _wait_for_run(
            settlement_services.settlement_run_start(user=county_user, kind="resettle_year", year=2025).pk,
            timeout=TIMEOUT,
        )
        assert again.status == "done", again.error
        assert again.result["unchanged"] == len(county_year) - 1 and again.result["resettled"] == 0
        assert Settlement.objects.count() == len(county_year) - 1
        _check_against_the_engine(run, county_year)
    finally:
        stop_worker(worker)
