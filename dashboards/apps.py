from django.apps import AppConfig

from core.demo import DemoLoading


class DashboardsConfig(DemoLoading, AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dashboards"
    verbose_name = "统计与公示"

    def demo_load(self, demo):
        from .services import aggregates_refresh  # models are not ready when the AppConfig is imported

        aggregates_refresh()
