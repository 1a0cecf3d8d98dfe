"""Attack 4 (docs/security.md): guessing passwords on the login page and through the API."""

import base64

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.urls import reverse


def _basic(username, password):
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


@pytest.fixture(autouse=True)
def _cheap_hasher(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def clerk(county_user):
    county_user.set_password("right-pass-123")
    county_user.save()
    return county_user


def _login(client, password, ip="10.0.0.7"):
    return client.post(reverse("login"), {"username": "county", "password": password}, REMOTE_ADDR=ip)


def test_five_wrong_passwords_lock_the_account_at_that_address(client, clerk, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    for _ in range(4):
        assert _login(client, "wrong").status_code == 200  # the form again, with its error
    locked = _login(client, "wrong")
    assert locked.status_code == 429 and "暂时锁定" in locked.content.decode()
    # Even the right password is refused now, for the cool-off time.
    assert _login(client, "right-pass-123").status_code == 429
    assert "_auth_user_id" not in client.session
    # Another address is not locked out by this one's guesses (a clerk at her own desk).
    assert _login(client, "right-pass-123", ip="10.0.0.8").status_code == 302
    # Every failure is recorded for the audit.
    attempt = AccessAttempt.objects.get(username="county", ip_address="10.0.0.7")
    assert attempt.failures_since_start >= 5
    assert AccessFailureLog.objects.filter(username="county").count() >= 5


def test_lock_ends_after_the_cool_off_and_county_staff_can_unlock(client, clerk, settings):
    from axes.utils import reset

    for _ in range(5):
        _login(client, "wrong")
    assert _login(client, "right-pass-123").status_code == 429
    reset(username="county")  # what deleting the attempt in 系统管理 does
    assert _login(client, "right-pass-123").status_code == 302


def test_unlocking_from_the_admin(client, clerk, admin_user):
    for _ in range(5):
        _login(client, "wrong")
    attempt = AccessAttempt.objects.get(username="county")
    admin = client.__class__()
    admin.force_login(admin_user)
    page = admin.get(reverse("admin:axes_accessattempt_changelist"))
    assert page.status_code == 200 and "county" in page.content.decode()
    response = admin.post(reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert _login(client, "right-pass-123").status_code == 302


def test_api_basic_auth_guesses_are_counted_and_locked(client, clerk):
    for _ in range(5):
        response = client.get("/api/v1/registry/townships/", REMOTE_ADDR="10.0.0.9", **_basic("county", "x"))
        assert response.status_code in (401, 403)
    response = client.get(
        "/api/v1/registry/townships/", REMOTE_ADDR="10.0.0.9", **_basic("county", "right-pass-123")
    )
    # 401 since the first authentication class (hospital tokens) names its scheme: a refused
    # login is "not authenticated" with a WWW-Authenticate header (docs/security.md).
    assert response.status_code in (401, 403, 429)
    assert AccessAttempt.objects.filter(username="county", ip_address="10.0.0.9").exists()


def test_production_api_takes_sessions_and_tokens_not_basic_auth():
    import os
    import subprocess
    import sys

    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(','.join(settings.REST_FRAMEWORK['DEFAULT_AUTHENTICATION_CLASSES']))"
    )
    env = {
        **os.environ,
        "PRODUCTION": "1",
        "SECRET_KEY": "x" * 60,
        "DJANGO_SETTINGS_MODULE": "healthaid.settings",
        "API_BASIC_AUTH": "1",  # cannot be switched back on in production
    }
    env.pop("DATABASE_URL", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    classes = out.stdout.strip().split(",")
    assert "rest_framework.authentication.BasicAuthentication" not in classes
    assert "rest_framework.authentication.TokenAuthentication" in classes
    assert "rest_framework.authentication.SessionAuthentication" in classes


def test_token_auth(client, clerk):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=clerk)
    response = client.get("/api/v1/registry/townships/", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200


def test_api_is_throttled(client, county_user, settings):
    settings.API_THROTTLE_RATES = {"anon": "2/minute", "user": "3/minute"}
    from django.core.cache import cache

    cache.clear()
    client.force_login(county_user)
    codes = [client.get("/api/v1/registry/townships/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    cache.clear()
