from django.apps import AppConfig

from core.demo import DemoLoading


class PaymentsConfig(DemoLoading, AppConfig):
    name = "payments"
    verbose_name = "资金拨付"

    def ready(self):
        from . import sources

        # The sources of payment lines, in drafting order: refunds before the institutions'
        # cells (a cell pays what is left once its refunds are taken, docs/payments.md).
        sources.register_builtin()
        sources.register_aid()

    def demo_load(self, demo):
        from .demo import load_demo_payments

        created = load_demo_payments(user=demo.user)
        demo.say(f"已建立演示资金账户 {created} 个（含年度拨款）和一个银行代发版式。")
