from django.apps import AppConfig

from core.demo import DemoLoading


class ClaimsConfig(DemoLoading, AppConfig):
    name = "claims"
    verbose_name = "疾病识别与就诊"

    def ready(self):
        from core.imports import register_import_kind

        from . import encounter_rows, models, services, tasks

        register_import_kind(
            "encounters",
            models.EncounterImport,
            tasks.run_encounter_job,
            services.encounter_import,
            services.EncounterReport,
            extra_sheet=encounter_rows.ITEMS_SHEET,
        )

    def demo_load(self, demo):
        from .demo import load_demo_claims  # models are not ready when the AppConfig is imported

        loaded = load_demo_claims(user=demo.user, year=demo.year)
        demo.say(f"就诊与救治演示数据：{loaded['encounters']} 条就诊记录（{demo.year}年）。")
