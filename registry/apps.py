from django.apps import AppConfig


class RegistryConfig(AppConfig):
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
