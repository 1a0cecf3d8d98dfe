"""Shared fixtures: users of each role, and Celery mode.

Unit and view tests run Celery tasks eagerly; tests marked ``integration`` get a real
worker process (``celery_worker_process``) talking to the test database through Redis.
"""

import pytest


@pytest.fixture(autouse=True)
def _celery_eager(request):
    from healthaid.celery import app

    if request.node.get_closest_marker("integration"):
        yield
        return
    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def areas(db):
    from tests.factories import TownshipFactory, VillageFactory

    east = TownshipFactory(name="城关镇")
    west = TownshipFactory(name="北关乡")
    return {
        "east": east,
        "west": west,
        "east_village": VillageFactory(township=east, name="城关镇一村"),
        "west_village": VillageFactory(township=west, name="北关乡一村"),
    }


@pytest.fixture
def county_user(db):
    from tests.factories import make_user

    return make_user("county", "county", is_staff=True)


@pytest.fixture
def supervisor(db):
    from tests.factories import make_user

    return make_user("leader", "supervisor")


@pytest.fixture
def township_user(areas):
    from tests.factories import make_user

    return make_user("clinic", "township", township=areas["east"])


@pytest.fixture
def other_township_user(areas):
    from tests.factories import make_user

    return make_user("clinic2", "township", township=areas["west"])


@pytest.fixture
def celery_worker_process(transactional_db, django_db_blocker):
    """A real `celery worker` subprocess on Redis, using the test database."""
    from tests.workers import start_worker, stop_worker

    worker = start_worker()
    yield worker
    stop_worker(worker)
