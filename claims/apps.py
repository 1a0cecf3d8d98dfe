from django.apps import AppConfig


class ClaimsConfig(AppConfig):
    name = "claims"
    verbose_name = "疾病识别与就诊"

    def ready(self):
        from core.imports import register_import_kind

        from . import models, services, tasks

        register_import_kind(
            "encounters",
            models.EncounterImport,
            tasks.run_encounter_job,
            services.encounter_import,
            services.EncounterReport,
        )
