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
        # --- AID SOURCE: wired by the lead after merging the aid app (docs/payments.md) ----------
        # from aid import selectors as aid_selectors, services as aid_services
        #
        # def aid_payables(*, fund, year, month):
        #     return [
        #         sources.Payable(
        #             kind="aid", source_key=sources.aid_key(a.pk), amount=a.amount,
        #             period_year=year, period_month=month, purpose=f"医疗救助（{a}）",
        #             payee_name=a.member.name, member_id=a.member_id,
        #         )
        #         for a in aid_selectors.applications_awaiting_payment(fund=fund.name)
        #         if not sources.held(sources.aid_key(a.pk))
        #     ]
        #
        # sources.register_source(
        #     "aid", aid_payables, label="医疗救助给付",
        #     paid=lambda *, line, user: aid_services.aid_application_mark_paid(
        #         application_id=sources.aid_id(line), paid_on=line.paid_on, reference=line.bank_reference
        #     ),
        # )

    def demo_load(self, demo):
        from .demo import load_demo_payments

        created = load_demo_payments(user=demo.user)
        demo.say(f"已建立演示资金账户 {created} 个（含年度拨款）和一个银行代发版式。")
