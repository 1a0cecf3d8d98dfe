from django.apps import AppConfig

from core.demo import DemoLoading


class RegistryConfig(DemoLoading, AppConfig):
    name = "registry"
    verbose_name = "建档立卡"

    def ready(self):
        from core.imports import register_import_kind

        from . import models, services, tasks

        register_import_kind(
            "roster",
            models.RosterImport,
            tasks.run_roster_job,
            services.roster_import,
            services.RosterReport,
            options=["create_areas"],
        )

    def demo_load(self, demo):
        from .demo_load import demo_load  # models are not ready when the AppConfig is imported

        demo_load(demo)
