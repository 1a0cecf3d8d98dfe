"""Pages of payments (资金拨付). County staff draft, check, approve, export and record payments;
supervisors read; a township clinic sees its township's people-lines (and the batches holding
them) and registers its households' bank accounts. Account numbers are masked on every page."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from core.errors import DomainError
from core.export import XLSX, content_disposition
from registry import roles
from registry.pages import ObjectMixin, RoleRequiredMixin, ScopedListView, ServiceFormView
from registry.selectors import with_changes

from . import filtersets, forms, resources, selectors, services
from .masking import mask_account_number
from .models import BankAccount


def _year(values) -> int:
    """The year asked for (``?year=`` or a posted ``year``), else the latest with data."""
    try:
        year = int(values.get("year") or 0)
    except ValueError:
        year = 0
    return year if 2000 <= year <= 2100 else selectors.batch_years()[0]


def _masked(lines):
    for line in lines:
        line.masked_account = mask_account_number(line.account_number)
    return lines


# --- funds ----------------------------------------------------------------------------------


class FundListView(RoleRequiredMixin, TemplateView):
    template_name = "payments/fund_list.html"
    county_wide = True

    def get_context_data(self, **kwargs):
        year = _year(self.request.GET)
        accounts = [selectors.fund_account(fund, year) for fund in selectors.funds()]
        return super().get_context_data(
            year=year, years=selectors.batch_years(), accounts=accounts, fund_form=forms.FundForm(), **kwargs
        )


class FundCreateView(ServiceFormView):
    form_class = forms.FundForm
    template_name = "payments/form.html"
    county_required = True
    title = "新建资金账户"
    success_message = "资金账户已建立。"

    def save(self, form):
        self.fund = services.fund_create(user=self.request.user, **form.cleaned_data)

    def get_success_url(self):
        return reverse("payments:fund_detail", args=[self.fund.pk])


class FundSyncView(RoleRequiredMixin, View):
    """按政策建立资金账户: the funds the year's policies and subsidies name."""

    county_required = True
    write_required = True

    def post(self, request):
        year = _year(request.POST)
        try:
            created = services.funds_sync(user=request.user, year=year)
            if created:
                messages.success(request, "已建立资金账户：" + "、".join(f.name for f in created) + "。")
            else:
                messages.info(request, f"{year}年度政策和参保资助所列资金都已有账户。")
        except DomainError as exc:
            messages.error(request, exc.message)
        return HttpResponseRedirect(f"{reverse('payments:fund_list')}?year={year}")


class FundDetailView(RoleRequiredMixin, ObjectMixin, TemplateView):
    template_name = "payments/fund_detail.html"
    county_wide = True

    def queryset_for(self, user):
        return selectors.funds()

    def get_context_data(self, **kwargs):
        year = _year(self.request.GET)
        account = selectors.fund_account(self.object, year)
        chart = {
            "months": [f"{m['month']}月" for m in account["months"]],
            "income": [str(m["income"]) for m in account["months"]],
            "outflow": [str(m["outflow"]) for m in account["months"]],
            "balance": [str(m["balance"]) for m in account["months"]],
        }
        return super().get_context_data(
            year=year,
            years=selectors.batch_years(),
            account=account,
            incomes=selectors.incomes(fund=self.object, year=year),
            income_form=forms.IncomeForm() if roles.is_county(self.request.user) else None,
            chart=json.dumps(chart),
            **kwargs,
        )


class IncomeCreateView(ObjectMixin, ServiceFormView):
    form_class = forms.IncomeForm
    template_name = "payments/form.html"
    county_required = True
    title = "登记资金收入"
    success_message = "收入已登记。"

    def queryset_for(self, user):
        return selectors.funds()

    def save(self, form):
        data = dict(form.cleaned_data)
        key = data.pop("form_token", "")
        self.income = services.fund_income_record(
            user=self.request.user, fund=self.object, idempotency_key=key, **data
        )

    def get_success_url(self):
        return f"{reverse('payments:fund_detail', args=[self.object.pk])}?year={self.income.received_on.year}"


# --- batches --------------------------------------------------------------------------------


class BatchListView(ScopedListView):
    template_name = "payments/batch_list.html"
    selector = selectors.batches_for
    filterset_class = filtersets.BatchFilterSet
    ordering = ["-year", "-month", "-id"]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if roles.is_county(self.request.user):
            context["draft_form"] = forms.BatchDraftForm()
        return context


class BatchDraftView(ServiceFormView):
    form_class = forms.BatchDraftForm
    template_name = "payments/form.html"
    county_required = True
    title = "起草拨付批次"
    success_message = "拨付批次已起草，请交另一位工作人员复核。"

    def save(self, form):
        data = dict(form.cleaned_data)
        key = data.pop("form_token", "")
        self.batch = services.batch_draft(user=self.request.user, idempotency_key=key, **data)

    def get_success_url(self):
        return reverse("payments:batch_detail", args=[self.batch.pk])


class BatchDetailView(RoleRequiredMixin, ObjectMixin, TemplateView):
    template_name = "payments/batch_detail.html"
    selector = selectors.batches_for

    def get_context_data(self, **kwargs):
        batch = self.object
        user = self.request.user
        lines = _masked(list(selectors.lines_for(user).filter(batch=batch).order_by("position")))
        county = roles.is_county(user)
        context = {
            "batch": batch,
            "lines": lines,
            "county": county,
            "history": (
                with_changes(list(batch.history.select_related("history_user")), type(batch))
                if township_hidden(user)
                else []
            ),
        }
        if county:
            context.update(
                check=selectors.approval_check(batch),
                approve_form=forms.ApproveForm(),
                export_form=forms.ExportForm(),
                cancel_form=forms.CancelForm(),
                paid_form=forms.PaidForm(),
                return_form=forms.ReturnForm(),
            )
        return super().get_context_data(**context, **kwargs)


def township_hidden(user) -> bool:
    """County staff and supervisors see a batch's history; a clinic sees only its lines."""
    return roles.township_id_of(user) is None


class BatchActionView(RoleRequiredMixin, ObjectMixin, View):
    """A POST button on a batch: check, approve (with an override reason), cancel."""

    county_required = True
    write_required = True
    selector = selectors.batches_for
    action = ""

    def post(self, request, pk):
        user, batch = request.user, self.object
        try:
            if self.action == "check":
                services.batch_check(user=user, batch=batch)
                messages.success(request, "已复核。")
            elif self.action == "approve":
                form = forms.ApproveForm(request.POST)
                form.is_valid()
                services.batch_approve(
                    user=user, batch=batch, override_reason=form.cleaned_data.get("override_reason", "")
                )
                messages.success(request, "已审批。")
            elif self.action == "cancel":
                form = forms.CancelForm(request.POST)
                form.is_valid()
                services.batch_cancel(user=user, batch=batch, reason=form.cleaned_data.get("reason", ""))
                messages.success(request, "批次已作废。")
        except DomainError as exc:
            messages.error(request, exc.message)
        return HttpResponseRedirect(reverse("payments:batch_detail", args=[batch.pk]))


class BatchExportView(RoleRequiredMixin, ObjectMixin, View):
    county_required = True
    write_required = True
    selector = selectors.batches_for

    def post(self, request, pk):
        form = forms.ExportForm(request.POST)
        if not form.is_valid():
            messages.error(request, "请选择银行代发版式。")
            return HttpResponseRedirect(reverse("payments:batch_detail", args=[pk]))
        try:
            content, filename = services.batch_export(
                user=request.user, batch=self.object, layout=form.cleaned_data["layout"]
            )
        except DomainError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(reverse("payments:batch_detail", args=[pk]))
        content_type = XLSX if filename.endswith(".xlsx") else "text/csv"
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = content_disposition(filename)
        return response


class LineActionView(RoleRequiredMixin, View):
    """Record a line paid (bank reference) or returned (退票)."""

    county_required = True
    write_required = True
    action = ""

    def post(self, request, pk):
        line = get_object_or_404(selectors.lines_for(request.user), pk=pk)
        form = (forms.PaidForm if self.action == "paid" else forms.ReturnForm)(request.POST)
        if not form.is_valid():
            messages.error(request, "；".join(e for errors in form.errors.values() for e in errors))
        else:
            try:
                if self.action == "paid":
                    services.line_mark_paid(user=request.user, line=line, **form.cleaned_data)
                    messages.success(request, f"第{line.position}行已登记支付。")
                else:
                    services.line_return(user=request.user, line=line, **form.cleaned_data)
                    messages.success(
                        request, f"第{line.position}行已登记退票，款项可在以后的批次中重新拨付。"
                    )
            except DomainError as exc:
                messages.error(request, exc.message)
        return HttpResponseRedirect(reverse("payments:batch_detail", args=[line.batch_id]))


class LineListView(ScopedListView):
    """Payment lines; a clinic's list holds its township's people-lines only."""

    template_name = "payments/line_list.html"
    selector = selectors.lines_for
    resource_class = resources.LINE_SHEET
    export_name = "拨付明细"
    filterset_class = filtersets.LineFilterSet
    ordering = ["-batch__year", "-batch__month", "batch_id", "position"]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        _masked(context["object_list"])
        return context


# --- bank accounts --------------------------------------------------------------------------


class AccountListView(ScopedListView):
    template_name = "payments/account_list.html"
    selector = selectors.accounts_for
    resource_class = resources.ACCOUNT_SHEET
    export_name = "银行账户"
    filterset_class = filtersets.AccountFilterSet
    ordering = ["household__number", "member_id", "-active", "-id"]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        for account in context["object_list"]:
            account.masked = mask_account_number(account.account_number)
        return context


class AccountCreateView(ServiceFormView):
    form_class = forms.BankAccountForm
    template_name = "payments/form.html"
    title = "登记银行账户（社保卡/一卡通）"
    success_message = "账户已登记。"

    def save(self, form):
        data = dict(form.cleaned_data)
        key = data.pop("form_token", "")
        household = selectors.household_for(self.request.user, data.pop("household"))
        if household is None:
            raise services.PaymentsError("没有找到该户编号（或不属于本乡镇）。", field="household")
        id_number = data.pop("member_id_number").strip().upper()
        member = None
        if id_number:
            member = household.members.filter(id_number=id_number).first()
            if member is None:
                raise services.PaymentsError("该户没有这个证件号码的成员。", field="member_id_number")
        self.account = services.bank_account_save(
            user=self.request.user, household=household, member=member, idempotency_key=key, **data
        )

    def get_success_url(self):
        return reverse("payments:account_detail", args=[self.account.pk])


class AccountDetailView(RoleRequiredMixin, ObjectMixin, TemplateView):
    template_name = "payments/account_detail.html"
    selector = selectors.accounts_for

    def get_context_data(self, **kwargs):
        account = self.object
        label = BankAccount._meta.get_field("account_number").verbose_name
        history = [
            (
                version,
                [
                    (name, mask_account_number(old), mask_account_number(new))
                    if name == label
                    else (name, old, new)
                    for name, old, new in changes
                ],
            )
            for version, changes in with_changes(
                list(account.history.select_related("history_user")), BankAccount
            )
        ]
        return super().get_context_data(
            account=account, masked=mask_account_number(account.account_number), history=history, **kwargs
        )


class AccountCloseView(RoleRequiredMixin, ObjectMixin, View):
    write_required = True
    selector = selectors.accounts_for

    def post(self, request, pk):
        try:
            services.bank_account_close(user=request.user, account=self.object)
            messages.success(request, "账户已停用。")
        except DomainError as exc:
            messages.error(request, exc.message)
        return HttpResponseRedirect(reverse("payments:account_detail", args=[pk]))
