from django.apps import AppConfig


class ClaimsConfig(AppConfig):
    name = "claims"
    verbose_name = "疾病识别与就诊"

    def ready(self):
        from core.imports import ImportKind, register_import_kind

        from . import services, tasks
        from .models import EncounterImport

        register_import_kind(
            ImportKind(
                key="encounters",
                model=EncounterImport,
                task=tasks.run_encounter_job,
                process=services.encounter_job_process,
                empty_report=lambda dry_run, errors: services.EncounterReport(
                    dry_run=dry_run, refused=True, errors=errors
                ),
                unit="行",
            )
        )
