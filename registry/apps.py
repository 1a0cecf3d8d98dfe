from django.apps import AppConfig

from core.demo import DemoLoading


class RegistryConfig(DemoLoading, AppConfig):
    name = "registry"
    verbose_name = "建档立卡"

    def demo_load(self, demo):
        from .demo_load import demo_load  # models are not ready when the AppConfig is imported

        demo_load(demo)
