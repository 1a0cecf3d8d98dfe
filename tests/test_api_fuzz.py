"""API fuzzing with schemathesis against our own OpenAPI schema: for every operation and
each role, generated requests never get a 5xx."""

import base64
import json
import logging
import os
import traceback

import pytest
import schemathesis
from django.core.serializers.json import DjangoJSONEncoder
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings

ROLES = ("county", "clinic", "leader")


def _basic(username):
    token = base64.b64encode(f"{username}:test-pass-123".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def api_schema(db, settings, county_user, township_user, supervisor, areas):
    from django.core.wsgi import get_wsgi_application
    from drf_spectacular.generators import SchemaGenerator

    from tests.factories import HouseholdFactory, MemberFactory

    # Every fuzzed request logs in with Basic auth: with the production hasher (a million
    # PBKDF2 rounds) the passwords, not the API, took most of this test's minutes. The app
    # runs in this process, so it checks the cheap hashes set here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Hundreds of requests per role: the API throttle (docs/security.md) is not under test here.
    settings.API_THROTTLE_RATES = {"anon": None, "user": None}
    for user in (county_user, township_user, supervisor):
        user.set_password("test-pass-123")
        user.save(update_fields=["password"])

    # Some data in each township so that list and detail routes have something to return.
    for village in (areas["east_village"], areas["west_village"]):
        household = HouseholdFactory(village=village)
        MemberFactory(household=household)
    document = json.loads(
        json.dumps(SchemaGenerator().get_schema(request=None, public=True), cls=DjangoJSONEncoder)
    )
    schema = schemathesis.openapi.from_dict(document)
    schema.app = get_wsgi_application()
    # The raw WSGI app closes "old" connections at each request's start and end; inside the
    # test's transaction that would close the test's own connection. Django's test client
    # disconnects the same handler for the same reason.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield schema
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


class _ServerErrors(logging.Handler):
    """Keeps the traceback Django logs for a 500, so a failure names the line that broke."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.last = ""

    def emit(self, record):
        if record.exc_info:
            self.last = "".join(traceback.format_exception(*record.exc_info))[-2500:]


def test_no_server_error_for_any_role(api_schema):
    # Each operation gets its own hypothesis run (the schemathesis pytest plugin does not
    # support this pytest version, so the operations are walked here).
    failures = []
    errors = _ServerErrors()
    logging.getLogger("django.request").addHandler(errors)
    operations = [result.ok() for result in api_schema.get_all_operations()]
    # FUZZ_PATHS=contracts,settlements narrows a local run to the paths containing those words.
    wanted = [word for word in os.environ.get("FUZZ_PATHS", "").split(",") if word]
    operations = [op for op in operations if not wanted or any(word in op.path for word in wanted)]
    assert operations, "the schema lists no operations"
    for operation in operations:

        @given(case=operation.as_strategy())
        # No shrinking or explaining: the explain phase traces every line executed and took
        # gigabytes of memory and minutes per failure; the failing request is printed as is.
        @settings(
            max_examples=6,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            for username in ROLES:
                response = case.call(headers=_basic(username))
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} as {username}: "
                        f"{response.status_code}\n{case.as_curl_command()}\n{errors.last}"
                    )
                    raise AssertionError(failures[-1])

        try:
            run()
        except AssertionError:
            pass  # collected; every operation still gets fuzzed
    logging.getLogger("django.request").removeHandler(errors)
    assert not failures, "\n".join(failures)


# Values that broke query parsing before (docs/security.md, attack 6): out-of-range years,
# integers no database column holds, NUL bytes, huge and negative pages.
EXTREMES = ["0", "-1", "99999999999", "99999", "1e400", "99999999999999999999", "\x00", "-" * 300, ""]


def test_extreme_query_values_for_every_parameter(api_schema, client, county_user):
    """Every query parameter of every GET operation in the schema, with each extreme value:
    never a 5xx."""
    client.force_login(county_user)
    failures, tried = [], 0
    for operation in (result.ok() for result in api_schema.get_all_operations()):
        if operation.method.upper() != "GET" or "{" in operation.path:
            continue
        names = [p.name for p in operation.query]
        url = "/api/v1" + operation.path if not operation.path.startswith("/api/") else operation.path
        for name in names:
            for value in EXTREMES:
                status = client.get(url, {name: value}).status_code
                tried += 1
                if status >= 500:
                    failures.append(f"GET {url}?{name}={value!r}: {status}")
    assert not failures, "\n".join(failures)
    assert tried > 100  # the schema's query parameters were found
