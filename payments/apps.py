from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "资金拨付"

    def ready(self):
        from . import sources

        # The sources of payment lines, in drafting order: refunds before the institutions'
        # cells (a cell pays what is left once its refunds are taken, docs/payments.md).
        sources.register_builtin()
        # --- AID SOURCE (wired by the lead after merging the aid app) ---------------------------
        # from aid import selectors as aid_selectors, services as aid_services
        # sources.register_source(
        #     "aid",
        #     collect=lambda *, fund, year, month: sources.aid_payables(
        #         aid_selectors.applications_awaiting_payment(fund=fund.name, year=year, month=month)
        #     ),
        #     paid=lambda *, line, user: aid_services.aid_application_mark_paid(
        #         application_id=sources.aid_id(line), paid_on=line.paid_on, reference=line.bank_reference
        #     ),
        # )
