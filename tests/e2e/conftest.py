"""End-to-end tests in a real browser: Debian's chromium driven by Playwright, against the
app served by gunicorn with a real Celery worker, both on the test database.

Skipped with a clear message only when chromium is absent and CI is unset."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "e2e"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.e2e)


def _require_browser():
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run must install Debian's chromium")
        pytest.skip(
            "chromium is not installed (apt-get install chromium chromium-driver); "
            "end-to-end tests skipped outside CI"
        )
    try:
        import playwright  # noqa: F401
    except ImportError:
        pytest.fail("playwright (Python) is missing: run make setup")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_app(celery_worker_process, settings):
    """gunicorn serving the app on the test database; yields its base URL."""
    _require_browser()
    from django.db import connection

    s = connection.settings_dict
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "healthaid.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--timeout",
            "120",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/accounts/login/", timeout=1)
            break
        except OSError:
            if server.poll() is not None:
                pytest.fail("gunicorn exited at start-up")
            time.sleep(0.3)
    else:
        server.kill()
        pytest.fail("gunicorn did not answer within 30 s")
    yield base
    server.terminate()
    server.wait(timeout=20)


@pytest.fixture
def browser_page():
    _require_browser()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # still synchronous, so Django's async guard is lifted for these tests only.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True
        )
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        # The test's ORM calls ran beside Playwright's event loop, on a connection that only
        # this context sees: close it here, or it outlives the test and keeps the test
        # database from being dropped ("is being accessed by other users").
        from django.db import connections

        connections.close_all()
        context.close()
        browser.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


class Steps:
    """Takes a numbered screenshot of each step into artifacts/e2e/."""

    def __init__(self, page, scenario):
        self.page, self.scenario, self.n = page, scenario, 0

    def shot(self, name):
        self.n += 1
        self.page.screenshot(path=str(ARTIFACTS / f"{self.scenario}-{self.n:02d}-{name}.png"), full_page=True)


@pytest.fixture
def steps(browser_page, request):
    return Steps(browser_page, request.node.name.removeprefix("test_"))


# --- helpers shared by the scenarios ---------------------------------------------------------------


def login(page, base, username, password="test-pass-123"):
    page.goto(base + "/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def wait_for_text(page, text, timeout=60_000):
    """Wait until ``text`` shows on the page (hidden menu entries do not count); on a time-out
    keep a screenshot of the page."""
    try:
        page.wait_for_selector(f"text={text} >> visible=true", timeout=timeout)
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "failure.png"), full_page=True)
        raise


def open_menu(page, menu, item):
    """Click a main-navigation drop-down (``menu``) and its entry ``item``, as a clerk does."""
    nav = page.get_by_role("navigation", name="主导航")
    nav.get_by_role("button", name=menu).click()
    nav.locator(".dropdown-menu.show").get_by_role("link", name=item, exact=True).click()
    page.wait_for_load_state()


def pick_patient(page, query):
    """Type into the 患者 box of a claims form and choose the one person the search lists.
    Playwright inserts Chinese characters as an input method does, without key events."""
    box = page.get_by_label("患者")
    box.fill("")
    box.press_sequentially(query, delay=50)
    choice = page.locator("#member-results button")
    choice.first.wait_for()
    assert choice.count() == 1, choice.all_inner_texts()
    choice.first.click()
