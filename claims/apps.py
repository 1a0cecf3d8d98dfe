from django.apps import AppConfig

from core.demo import DemoLoading


class ClaimsConfig(DemoLoading, AppConfig):
    name = "claims"
    verbose_name = "疾病识别与就诊"

    def ready(self):
        from core.imports import register_import_kind

        from . import catalogue, encounter_rows, handlers, models, services, tasks

        handlers.register()

        register_import_kind(
            "encounters",
            models.EncounterImport,
            tasks.run_encounter_job,
            services.encounter_import,
            services.EncounterReport,
            extra_sheet=encounter_rows.ITEMS_SHEET,
        )
        register_import_kind(
            "catalogue",
            models.CatalogueImport,
            tasks.run_catalogue_job,
            catalogue.catalogue_import,
            catalogue.CatalogueReport,
        )

    def demo_load(self, demo):
        from .demo import (
            DEMO_HOSPITAL_USER,
            load_demo_claims,  # models are not ready when the AppConfig is imported
            load_demo_hospital_account,
        )

        loaded = load_demo_claims(user=demo.user, year=demo.year)
        demo.say(f"就诊与救治演示数据：{loaded['encounters']} 条就诊记录（{demo.year}年）。")
        hospital = load_demo_hospital_account(user=demo.user)
        if hospital is not None:
            demo.notes.append(
                f"  定点医疗机构，限{hospital}：用户名 {DEMO_HOSPITAL_USER[0]}  密码 {DEMO_HOSPITAL_USER[1]}"
                "（接口令牌由县级账号在“医疗机构接口令牌”页生成）"
            )
