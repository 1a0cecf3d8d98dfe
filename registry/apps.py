from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "建档立卡"

    def ready(self):
        from core.imports import ImportKind, register_import_kind

        from . import services, tasks
        from .models import RosterImport

        register_import_kind(
            ImportKind(
                key="roster",
                model=RosterImport,
                task=tasks.run_roster_job,
                process=services.roster_job_process,
                empty_report=lambda dry_run, errors: services.RosterReport(
                    dry_run=dry_run, refused=True, errors=errors
                ),
                unit="户",
            )
        )
