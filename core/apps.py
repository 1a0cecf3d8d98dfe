from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "公共内核"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import imports  # noqa: F401  registers the outbox handler that starts import jobs
