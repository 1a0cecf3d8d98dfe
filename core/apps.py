"""The shared kernel every app builds on: the outbox by which a lower app causes work in a
higher one, the one domain error, bulk inserts, the retry policy of tasks, the ``any_of``
lookup, the system actor and the demo loader. It imports no other app of the project."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "公共内核"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import (
            exportjobs,  # noqa: F401  registers the outbox handler that starts export jobs
            imports,  # noqa: F401  registers the outbox handler that starts import jobs
            lookups,  # noqa: F401  (registers field__any_of on every field)
        )
