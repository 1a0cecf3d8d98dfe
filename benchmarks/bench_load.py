"""Load: 20 concurrent users for 60 seconds against gunicorn on this machine (loopback only).

14 township-clinic users enter outpatient visits (GET the form, POST it) and open the
encounter list; 6 supervisors open the county dashboard and the township table. Every loop is
bounded in time and count. Prints throughput, p50/p95 latency and errors (none allowed: exit 1).

    .venv/bin/python benchmarks/bench_load.py [--users 20] [--seconds 60]
"""

import argparse
import datetime
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _db import ROOT, machine, use_fresh_database  # noqa: E402
from _server import server_env, start_gunicorn, wait_up  # noqa: E402

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
MAX_REQUESTS_PER_USER = 5000  # a hard bound besides the time limit


def login(base, username, password):
    session = requests.Session()
    page = session.get(base + "/accounts/login/", timeout=30)
    token = CSRF.search(page.text).group(1)
    response = session.post(
        base + "/accounts/login/",
        timeout=30,
        allow_redirects=False,
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": base + "/accounts/login/"},
    )
    assert response.status_code == 302, f"login of {username} failed: {response.status_code}"
    return session


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies, self.errors = [], []

    def call(self, session, method, url, **kwargs):
        start = time.perf_counter()
        try:
            response = session.request(method, url, timeout=60, allow_redirects=False, **kwargs)
            ok = response.status_code < 400
            detail = f"{method} {url}: {response.status_code}"
        except requests.RequestException as exc:
            response, ok, detail = None, False, f"{method} {url}: {exc}"
        elapsed = time.perf_counter() - start
        with self.lock:
            self.latencies.append(elapsed)
            if not ok:
                self.errors.append(detail)
        return response


def clinic_user(base, rec, deadline, member_ids, institution_id, seed):
    rng = random.Random(seed)
    session = login(base, "clinic", "clinic-demo-2025")
    today = datetime.date.today().isoformat()
    for _ in range(MAX_REQUESTS_PER_USER // 3):
        if time.monotonic() > deadline:
            return
        form = rec.call(session, "GET", base + "/claims/encounters/new/")
        token = CSRF.search(form.text).group(1) if form is not None and form.status_code == 200 else ""
        total = rng.randrange(3000, 30000) / 100
        response = rec.call(
            session,
            "POST",
            base + "/claims/encounters/new/",
            headers={"Referer": base},
            data={
                "csrfmiddlewaretoken": token,
                "member": rng.choice(member_ids),
                "institution": institution_id,
                "kind": "outpatient",
                "admission_date": today,
                "diagnosis_code": "J06.9",
                "total_cost": f"{total:.2f}",
                "in_policy_cost": f"{total * 0.8:.2f}",
                "referred": "on",
            },
        )
        if response is not None and response.status_code != 302:
            with rec.lock:
                rec.errors.append(f"encounter not saved: {response.status_code}")
        rec.call(session, "GET", base + "/claims/encounters/")


def supervisor_user(base, rec, deadline):
    session = login(base, "leader", "leader-demo-2025")
    for _ in range(MAX_REQUESTS_PER_USER // 2):
        if time.monotonic() > deadline:
            return
        rec.call(session, "GET", base + "/dashboards/")
        rec.call(session, "GET", base + "/dashboards/townships/")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()

    url = use_fresh_database("healthaid_bench_load")
    from django.core.management import call_command

    from claims.models import Institution
    from registry.models import Member

    call_command("load_demo", verbosity=0, stdout=open(os.devnull, "w"))
    clinic_township = "城关镇"
    member_ids = list(
        Member.objects.filter(household__village__township__name=clinic_township, insured=True).values_list(
            "id", flat=True
        )
    )
    institution_id = (
        Institution.objects.filter(township__name=clinic_township, level="township")
        .values_list("id", flat=True)
        .first()
    )

    env = server_env(url, os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/5"))
    server, base = start_gunicorn(env, workers=3, threads=4)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "healthaid",
            "worker",
            "--concurrency",
            "1",
            "--loglevel",
            "warning",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        wait_up(base + "/accounts/login/", server)
        rec = Recorder()
        deadline = time.monotonic() + args.seconds
        clinics = round(args.users * 0.7)
        threads = [
            threading.Thread(target=clinic_user, args=(base, rec, deadline, member_ids, institution_id, i))
            for i in range(clinics)
        ]
        threads += [
            threading.Thread(target=supervisor_user, args=(base, rec, deadline))
            for _ in range(args.users - clinics)
        ]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=args.seconds + 120)
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        worker.terminate()
        server.wait(timeout=30)
        worker.wait(timeout=30)

    lat = sorted(rec.latencies)
    p95 = lat[int(len(lat) * 0.95) - 1] if lat else 0
    print(f"# load — {datetime.date.today()} — {machine()} — gunicorn 3 workers × 4 threads, 1 Celery worker")
    print(
        f"users: {args.users} ({clinics} clinics entering visits, {args.users - clinics} supervisors on dashboards), "
        f"{elapsed:.0f} s"
    )
    print(f"requests: {len(lat)}  throughput: {len(lat) / elapsed:.1f} req/s")
    print(f"latency p50: {statistics.median(lat) * 1000:.0f} ms  p95: {p95 * 1000:.0f} ms")
    print(f"errors: {len(rec.errors)}")
    for error in rec.errors[:10]:
        print("  ", error)
    if rec.errors:
        sys.exit(1)


if __name__ == "__main__":
    main()
