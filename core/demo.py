"""The demo county (``make run``, ``manage.py load_demo``), loaded app by app.

This is the project's one dynamic plugin point: core cannot import the apps above it, so
``load_demo`` finds the loaders through Django's app registry. An app takes part by making
its ``AppConfig`` a ``DemoLoading`` and implementing ``demo_load(demo)``; loaders run in
``INSTALLED_APPS`` order (registry, claims, settlement, dashboards: each finds what the one
before it loaded) inside one transaction, and must be safe to run again (what exists is left
alone). (The outbox's ``register_handler`` and claims' ``ports`` are the other two places
where a higher app plugs into a lower one; both are called explicitly from ``ready()``.)"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.apps import apps
from django.db import transaction


@dataclass
class Demo:
    """What the loaders share: the size asked for, the year of the demo data, the county
    user the first loader creates (``user``) and the lines to print at the end (``notes``)."""

    households: int
    year: int
    user: object = None
    said: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.said.append(line)


class DemoLoading:
    """Mixin for an ``AppConfig`` that loads demo data."""

    def demo_load(self, demo: Demo) -> None:
        raise NotImplementedError


def demo_loaders() -> list[DemoLoading]:
    return [config for config in apps.get_app_configs() if isinstance(config, DemoLoading)]


@transaction.atomic
def load_demo(*, households: int, year: int) -> Demo:
    demo = Demo(households=households, year=year)
    for config in demo_loaders():
        config.demo_load(demo)
    return demo
