from django.apps import AppConfig

from core.demo import DemoLoading


class SettlementConfig(DemoLoading, AppConfig):
    name = "settlement"
    verbose_name = "一站式结算"

    def ready(self):
        # The work registry and claims record in the outbox (core/outbox.py) is settlement's.
        from claims import ports

        from . import handlers, selectors

        handlers.register()
        # What claims asks of settlement (claims/ports.py); looked up at each call.
        ports.provide_settlement_facts(
            settled_encounter_ids=lambda ids: selectors.settled_encounter_ids(ids),
            member_cost_totals=lambda ids: selectors.member_cost_totals(ids),
        )

    def demo_load(self, demo):
        from .demo import load_demo_settlement

        settled = load_demo_settlement(user=demo.user)
        demo.say(f"已结算演示就诊：{', '.join(f'{y}年' for y in sorted(settled))}。")
