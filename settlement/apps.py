from django.apps import AppConfig


class SettlementConfig(AppConfig):
    name = "settlement"
    verbose_name = "一站式结算"

    def ready(self):
        from healthaid import lookups  # noqa: F401  (registers field__any_of, used by batch.members_in)
