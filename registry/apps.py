from django.apps import AppConfig

from core.demo import DemoLoading


class RegistryConfig(DemoLoading, AppConfig):
    name = "registry"
    verbose_name = "建档立卡"

    def ready(self):
        from core.imports import register_import_kind

        from . import fact_services, models, services, tasks

        register_import_kind(
            "roster",
            models.RosterImport,
            tasks.run_roster_job,
            services.roster_import,
            services.RosterReport,
            options=["create_areas"],
        )
        register_import_kind(
            "enrollments",
            models.EnrollmentImport,
            tasks.run_enrollment_job,
            fact_services.enrollment_list_import,
            fact_services.EnrollmentListReport,
        )

    def demo_load(self, demo):
        from .demo_load import demo_load  # models are not ready when the AppConfig is imported

        demo_load(demo)
