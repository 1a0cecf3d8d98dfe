"""Attack 10 (docs/security.md): response headers, no inline script or style (so the
Content-Security-Policy can forbid them), no server banner, no full ID number in logs."""

import logging
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from registry.idnumber import mask_id_numbers_in_text

ROOT = Path(__file__).resolve().parents[2]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
STYLE_ATTR = re.compile(r"<[^>]+\sstyle\s*=", re.I)


def _plain_urls(resolver=None, prefix=""):
    """Every URL of the project that takes no argument (lists, forms, dashboards)."""
    for p in (resolver or get_resolver()).url_patterns:
        if isinstance(p, URLResolver):
            if str(p.pattern).startswith("admin/"):
                continue
            yield from _plain_urls(p, prefix + str(p.pattern))
        elif isinstance(p, URLPattern) and "<" not in str(p.pattern) and "(?P" not in str(p.pattern):
            route = prefix + str(p.pattern)
            if "^" in route or "$" in route or "\\" in route:
                continue  # DRF's format-suffix variants
            yield "/" + route


def test_every_page_has_the_headers_and_no_inline_script_or_style(client, county_user, areas):
    client.force_login(county_user)
    checked = 0
    for url in sorted(set(_plain_urls())):
        response = client.get(url)
        if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
            continue
        checked += 1
        csp = response["Content-Security-Policy"]
        assert (
            "default-src 'self'" in csp
            and "script-src 'self'" in csp
            and "script-src 'self' 'unsafe" not in csp
        )
        if url == "/api/v1/docs/":  # Swagger UI's own page: an inline <style>, no inline script
            assert "style-src 'self' 'unsafe-inline'" in csp and not INLINE_SCRIPT.search(
                response.content.decode()
            )
            continue
        assert "unsafe-inline" not in csp
        assert response["Referrer-Policy"] == "same-origin"
        assert "camera=()" in response["Permissions-Policy"]
        html = response.content.decode()
        assert not INLINE_SCRIPT.search(html), (url, INLINE_SCRIPT.search(html).group(0))
        assert not INLINE_HANDLER.search(html), (url, INLINE_HANDLER.search(html).group(0))
        assert not STYLE_ATTR.search(html), (url, STYLE_ATTR.search(html).group(0))
        assert "<style" not in html, url
    assert checked > 20


def test_headers_on_the_login_page_and_the_api(client):
    for url in ("/accounts/login/", "/api/v1/registry/townships/"):
        response = client.get(url)
        assert "Content-Security-Policy" in response and "Permissions-Policy" in response, url
        assert response["X-Frame-Options"] == "DENY" and response["X-Content-Type-Options"] == "nosniff"


def test_id_numbers_are_masked_in_log_lines(caplog):
    assert (
        mask_id_numbers_in_text("GET /registry/members/?q=64022119750314123X&page=2")
        == "GET /registry/members/?q=640*************3X&page=2"
    )
    assert mask_id_numbers_in_text("q=%20110105491231002") == "q=%20*************02"  # 15 digits
    assert mask_id_numbers_in_text("order 1234567890123456789") == "order 1234567890123456789"  # 19 digits
    from healthaid.logfilters import MaskIdNumbers

    logger = logging.getLogger("healthaid.test")
    handler = caplog.handler
    handler.addFilter(MaskIdNumbers())
    try:
        with caplog.at_level(logging.WARNING):
            logger.warning("Not Found: %s", "/claims/members/search/?q=64022119750314123X")
    finally:
        handler.removeFilter(handler.filters[-1])
    assert "64022119750314123X" not in caplog.text and "640*************3X" in caplog.text


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(sys.platform == "win32", reason="gunicorn runs on POSIX")
def test_gunicorn_sends_no_server_banner_and_masks_ids_in_its_access_log(tmp_path):
    port = _free_port()
    access_log = tmp_path / "access.log"
    env = {**os.environ, "ALLOWED_HOSTS": "127.0.0.1", "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "healthaid.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--access-logfile",
            str(access_log),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                response = urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/accounts/login/?q=64022119750314123X", timeout=5
                )
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("gunicorn did not answer")
        assert response.status == 200
        assert response.headers.get("Server") is None
        assert "Content-Security-Policy" in response.headers
    finally:
        server.terminate()
        server.wait(timeout=30)
    log = access_log.read_text()
    assert "/accounts/login/" in log and "64022119750314123X" not in log and "640*************3X" in log
