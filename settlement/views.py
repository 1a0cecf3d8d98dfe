"""Settlement pages: policies, settlements and their statements, the fund ledger, problems,
batch runs and policy simulation. Thin: reads come from ``selectors``, every change goes
through ``services`` (which re-check the role), township scoping through the selectors."""

import datetime
import json

from django.contrib import messages
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views import View
from django.views.generic import DetailView, FormView, ListView

from core.export import describe_filters
from registry import roles
from registry.idnumber import mask_id_number
from registry.pages import FilteredListView, RoleRequiredMixin, ServiceFormView, export_list

from . import resources, selectors, services
from .forms import (
    LedgerFilterForm,
    PolicyDocumentForm,
    PolicyFilterSet,
    PolicyImportForm,
    RunStartForm,
    SettlementPageFilterSet,
    SimulationForm,
    TransferForm,
)
from .models import PolicyStatus, Settlement, SettlementRun


def _stamp():
    return timezone.localtime().strftime("%Y%m%d-%H%M")


def _default_year():
    years = selectors.settlement_years()
    return years[0] if years else datetime.date.today().year


# --- policies -----------------------------------------------------------------------------------


class PolicyListView(FilteredListView):
    template_name = "settlement/policy_list.html"
    filterset_class = PolicyFilterSet

    def get_queryset(self):
        return selectors.policies().select_related("created_by")


class PolicyDetailView(RoleRequiredMixin, DetailView):
    template_name = "settlement/policy_detail.html"
    context_object_name = "policy"

    def get_queryset(self):
        return selectors.policies().select_related("created_by")


class PolicyExportView(RoleRequiredMixin, View):
    def get(self, request, pk):
        policy = get_object_or_404(selectors.policies(), pk=pk)
        document = services.policy_export(code=policy.code)
        response = HttpResponse(
            json.dumps(document, ensure_ascii=False, indent=2) + "\n",
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="{policy.code}.json"'
        return response


def _policy_errors(form, exc):
    form.add_error(None, exc.message)
    return list(exc.errors)


class PolicyImportView(RoleRequiredMixin, FormView):
    county_required = True
    template_name = "settlement/policy_import.html"
    form_class = PolicyImportForm

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            policy = services.policy_import(
                user=self.request.user,
                document=data["document"],
                status=PolicyStatus.ACTIVE if data["activate"] else PolicyStatus.DRAFT,
                replace=data["replace"],
            )
        except services.SettlementError as exc:
            return self.render_to_response(self.get_context_data(form=form, errors=_policy_errors(form, exc)))
        messages.success(self.request, f"已导入政策「{policy.name}」（{policy.get_status_display()}）。")
        return redirect("settlement:policy_detail", pk=policy.pk)


class PolicyEditView(RoleRequiredMixin, FormView):
    county_required = True
    template_name = "settlement/policy_edit.html"
    form_class = PolicyDocumentForm

    def dispatch(self, request, *args, **kwargs):
        self.policy = get_object_or_404(selectors.policies(), pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["active"] = self.policy.status == PolicyStatus.ACTIVE
        return kwargs

    def get_initial(self):
        document = services.policy_export(code=self.policy.code)
        return {"text": json.dumps(document, ensure_ascii=False, indent=2)}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["policy"] = self.policy
        return context

    def form_valid(self, form):
        resettle = form.cleaned_data.get("resettle", False)
        try:
            policy = services.policy_update_document(
                user=self.request.user,
                policy=self.policy,
                document=form.cleaned_data["text"],
                resettle=resettle,
            )
        except services.SettlementError as exc:
            return self.render_to_response(self.get_context_data(form=form, errors=_policy_errors(form, exc)))
        if policy.status == PolicyStatus.ACTIVE and resettle:
            run = selectors.runs().filter(year=policy.year, kind=SettlementRun.Kind.RESETTLE_YEAR).first()
            messages.success(self.request, f"已保存，正在重新结算{policy.year}年度。")
            if run:
                return redirect("settlement:run_detail", pk=run.pk)
        else:
            messages.success(self.request, "已保存政策文件。")
        return redirect("settlement:policy_detail", pk=policy.pk)


class PolicyActivateView(RoleRequiredMixin, View):
    county_required = True

    def post(self, request, pk):
        policy = get_object_or_404(selectors.policies(), pk=pk)
        try:
            policy = services.policy_activate(user=request.user, policy=policy)
        except services.SettlementError as exc:
            messages.error(request, exc.message)
            return redirect("settlement:policy_detail", pk=pk)
        messages.success(
            request, f"已启用「{policy.name}」，{policy.year}年度的就诊记录正在按新政策重新结算。"
        )
        run = selectors.runs().filter(year=policy.year, kind=SettlementRun.Kind.RESETTLE_YEAR).first()
        if run:
            return redirect("settlement:run_detail", pk=run.pk)
        return redirect("settlement:policy_detail", pk=pk)


# --- settlements --------------------------------------------------------------------------------


class SettlementListView(FilteredListView):
    hospital_allowed = True  # its own institution's (selectors.settlements_for)
    template_name = "settlement/settlement_list.html"
    filterset_class = SettlementPageFilterSet
    export_name = "一站式结算记录"

    def get_queryset(self):
        return selectors.settlement_list_for(self.request.user)

    def get_filterset_kwargs(self, filterset_class):
        kwargs = super().get_filterset_kwargs(filterset_class)
        data = self.request.GET.copy()
        data.setdefault("current", "true")  # superseded settlements only on request
        kwargs["data"] = data
        return kwargs

    def exportable(self) -> bool:
        return True

    def export_parts(self) -> dict:
        """The columns follow the policy tiers of the filtered settlements; large exports run
        as export jobs like every list's (registry.pages.FilteredListView)."""
        self.check_access(self.request)
        filterset = self.get_filterset(self.get_filterset_class())
        queryset = filterset.qs if filterset.is_valid() else self.get_queryset().none()
        return {
            "sheet": resources.settlement_resource(selectors.tier_columns(queryset)),
            "rows": queryset,
            "title": self.export_name,
            "filters": describe_filters(filterset.form),
        }

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        query["export"] = "xlsx"
        context["export_url"] = f"?{query.urlencode()}"
        return context


class StatementView(RoleRequiredMixin, DetailView):
    hospital_allowed = True
    template_name = "settlement/statement.html"
    context_object_name = "settlement"

    def get_object(self, queryset=None):
        try:
            return selectors.statement_for(self.request.user, self.kwargs["pk"])
        except Settlement.DoesNotExist:
            raise Http404("没有找到该结算记录。")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        settlement = self.object
        context.update(
            selectors.statement(settlement),
            member=settlement.member,
            household=settlement.member.household,
            encounter=settlement.encounter,
            masked_id=mask_id_number(settlement.member.id_number),
            zero_reasons=selectors.zero_payout_reasons(settlement),
        )
        return context


class EncounterSettlementStatusView(RoleRequiredMixin, View):
    hospital_allowed = True
    """``{"state": "pending"|"settled"|"problem"|"superseded", "label"}``: polled by the
    encounter page while its settlement runs (the page reloads when the state changes).
    Scoped like the encounter page: another township's encounter answers 404."""

    def get(self, request, pk):
        from claims.selectors import encounters_for

        encounter = get_object_or_404(encounters_for(request.user), pk=pk)
        settlement = selectors.current_settlement_of(encounter)
        problem = None if settlement else selectors.problem_of(encounter)
        if settlement:
            state, label = "settled", "已结算"
        elif problem:
            state, label = "problem", problem.get_reason_display()
        elif not encounter.is_current:
            state, label = "superseded", "已被更正"
        else:
            state, label = "pending", "结算中"
        return JsonResponse({"state": state, "label": label})


class ProblemListView(RoleRequiredMixin, ListView):
    hospital_allowed = True
    template_name = "settlement/problem_list.html"
    paginate_by = 50
    context_object_name = "problems"

    def get_queryset(self):
        return selectors.problems_for(self.request.user).select_related(
            "encounter__member__household__village__township"
        )


# --- the fund ledger ----------------------------------------------------------------------------

LEDGER_COLUMNS = [
    ("支付资金", "fund"),
    ("医疗机构", "institution"),
    ("期间", "period_label"),
    ("应付", "owed"),
    ("已拨付", "paid"),
    ("未拨付", "outstanding"),
]


class LedgerView(RoleRequiredMixin, View):
    template_name = "settlement/ledger.html"
    county_wide = True  # county staff and supervisors: a township clinic → 403

    def filters(self):
        year = self.request.GET.get("year") or self.request.POST.get("year") or _default_year()
        data = {
            "year": year,
            "period": self.request.GET.get("period") or "month",
            "fund": self.request.GET.get("fund", ""),
            "institution": self.request.GET.get("institution", ""),
        }
        try:
            funds = selectors.year_funds(int(year))
        except (TypeError, ValueError):
            funds = []
        form = LedgerFilterForm(data, funds=funds)
        if form.is_valid():
            return form, form.cleaned_data, funds
        return form, {"year": _default_year(), "period": "month", "fund": "", "institution": None}, funds

    def ledger(self, f):
        data = selectors.ledger(
            year=f["year"],
            period=f["period"] or "month",
            fund=f["fund"] or None,
            institution=f["institution"],
        )
        quarter = f["period"] == "quarter"
        for row in data["rows"]:
            row["period_label"] = f"第{row['period']}季度" if quarter else f"{row['period']}月"
        return data

    def get(self, request):
        form, f, funds = self.filters()
        data = self.ledger(f)
        if request.GET.get("export") == "xlsx":
            rows = data["rows"] + [{"fund": "合计", "institution": "", "period_label": "", **data["totals"]}]
            # 参保资助 (money out of the funds for premiums) below the ledger, amounts under 已拨付.
            subsidy = data["subsidy"]
            if subsidy["rows"]:
                label = f"{f['year']}年度参保资助"
                rows.append({})
                rows += [
                    {
                        "fund": r["fund"],
                        "institution": f"参保资助（{r['people']}人）",
                        "period_label": label,
                        "paid": r["amount"],
                    }
                    for r in subsidy["rows"]
                ]
                rows.append(
                    {
                        "fund": "参保资助合计",
                        "institution": f"{subsidy['people']}人",
                        "period_label": label,
                        "paid": subsidy["total"],
                    }
                )
            return export_list(
                resources.export_resource(LEDGER_COLUMNS),
                rows,
                name="基金拨付台账",
                filters=describe_filters(form),
                filename=f"基金拨付台账-{f['year']}-{_stamp()}.xlsx",
            )
        transfer_form = None
        if roles.is_county(request.user):
            transfer_form = TransferForm(funds=funds, initial={"year": f["year"]})
        return self.render(form, f, data, transfer_form)

    def post(self, request):
        roles.require_county(request.user)  # supervisors read only
        form, f, _ = self.filters()
        year = request.POST.get("year", "")
        funds = selectors.year_funds(int(year)) if year.isdigit() else []
        transfer_form = TransferForm(request.POST, funds=funds)
        errors = []
        if transfer_form.is_valid():
            d = transfer_form.cleaned_data
            try:
                transfer = services.fund_transfer_record(
                    user=request.user,
                    fund=d["fund"],
                    institution=d["institution"],
                    year=d["year"],
                    month=d["month"],
                    amount=d["amount"],
                    paid_on=d["paid_on"],
                    reference=d["reference"],
                    note=d["note"],
                )
            except services.SettlementError as exc:
                transfer_form.add_error(None, exc.message)
                errors = exc.errors
            else:
                messages.success(
                    request,
                    f"已登记拨付：{transfer.fund} → {transfer.institution.name} "
                    f"{transfer.year}年{transfer.month}月 {transfer.amount:,.2f} 元。",
                )
                return redirect(f"{reverse('settlement:ledger')}?year={transfer.year}")
        return self.render(form, f, self.ledger(f), transfer_form, errors=errors, open_transfer=True)

    def render(self, form, f, data, transfer_form, **extra):
        query = self.request.GET.copy()
        query["export"] = "xlsx"
        context = {
            "form": form,
            "filters": f,
            "ledger": data,
            "transfer_form": transfer_form,
            "transfers": selectors.transfers(
                year=f["year"], fund=f["fund"] or None, institution=f["institution"]
            )[:50],
            "export_url": f"?{query.urlencode()}",
            **extra,
        }
        return render(self.request, self.template_name, context)


# --- batch runs and simulation ------------------------------------------------------------------


class RunListView(RoleRequiredMixin, ListView):
    county_required = True
    template_name = "settlement/run_list.html"
    paginate_by = 30
    context_object_name = "runs"

    def get_queryset(self):
        return selectors.runs()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["form"] = kwargs.get("form") or RunStartForm(initial={"year": _default_year()})
        return context


class RunStartView(RoleRequiredMixin, View):
    county_required = True

    def post(self, request):
        form = RunStartForm(request.POST)
        if not form.is_valid():
            messages.error(request, "请选择操作并填写有效的年度。")
            return redirect("settlement:run_list")
        try:
            run = services.settlement_run_start(
                user=request.user, kind=form.cleaned_data["kind"], year=form.cleaned_data["year"]
            )
        except services.SettlementError as exc:
            messages.error(request, exc.message)
            return redirect("settlement:run_list")
        return redirect("settlement:run_detail", pk=run.pk)


RUNNING = (SettlementRun.Status.QUEUED, SettlementRun.Status.RUNNING)

DIFFERENCE_COLUMNS = [
    ("乡镇", "township"),
    ("行政村", "village"),
    ("户编号", "household"),
    ("姓名", "name"),
    ("证件号码", "id_number"),
    ("重新结算的就诊次数", "encounters"),
]


def _band_rows(result):
    draft = result["policy_outcome"]["poor_self_pay_bands"]
    stored = result["stored_outcome"]["poor_self_pay_bands"]
    return [
        {
            "band": band,
            "stored": stored.get(band, 0),
            "draft": draft.get(band, 0),
            "change": draft.get(band, 0) - stored.get(band, 0),
        }
        for band in draft
    ]


def _simulation_rows(result):
    """(label, active, draft, change, kind) rows comparing the draft with what is stored."""
    d, s, c = result["policy_outcome"], result["stored_outcome"], result["change"]
    rows = [
        ("就诊人次", s["encounters"], d["encounters"], d["encounters"] - s["encounters"], "int"),
        ("就诊患者人数", s["patients"], d["patients"], d["patients"] - s["patients"], "int"),
        ("医疗总费用（元）", s["total_cost"], d["total_cost"], None, "money"),
    ]
    for fund, change in c["funds"].items():
        rows.append(
            (f"{fund}支出（元）", s["funds"].get(fund, "0.00"), d["funds"].get(fund, "0.00"), change, "money")
        )
    rows += [
        ("各项报销合计（元）", s["payouts"], d["payouts"], c["payouts"], "money"),
        ("获得报销的人数", s["helped"], d["helped"], c["helped"], "int"),
        (
            "未脱贫患者人数",
            s["poor_patients"],
            d["poor_patients"],
            d["poor_patients"] - s["poor_patients"],
            "int",
        ),
        ("未脱贫患者个人自付合计（元）", s["poor_self_pay"], d["poor_self_pay"], c["poor_self_pay"], "money"),
        ("未脱贫患者自付占总费用比例", s["poor_self_pay_ratio"], d["poor_self_pay_ratio"], None, "ratio"),
        (
            "政策范围内自付超过兜底限额的未脱贫患者",
            s["poor_over_threshold"],
            d["poor_over_threshold"],
            c["poor_over_threshold"],
            "int",
        ),
    ]
    return [{"label": r[0], "stored": r[1], "draft": r[2], "change": r[3], "kind": r[4]} for r in rows]


class RunMixin(RoleRequiredMixin):
    county_required = True

    def get_run(self):
        return get_object_or_404(selectors.runs(), pk=self.kwargs["pk"])


class RunDetailView(RunMixin, View):
    def get(self, request, pk):
        run = self.get_run()
        context = {
            "run": run,
            "running": run.status in RUNNING,
            "percent": int(100 * run.done / run.total) if run.total else 0,
        }
        done = run.status == SettlementRun.Status.DONE and run.result
        if done and run.kind == SettlementRun.Kind.SIMULATE:
            context.update(rows=_simulation_rows(run.result), bands=_band_rows(run.result))
            if request.GET.get("export") == "xlsx":
                return self.export_simulation(run, context)
        elif done and run.kind == SettlementRun.Kind.RESETTLE_YEAR:
            people = selectors.resettlement_differences(run)
            funds = sorted({fund for p in people for fund in p["funds"]})
            context.update(people=people, people_funds=funds)
            if request.GET.get("export") == "xlsx":
                columns = (
                    DIFFERENCE_COLUMNS
                    + [("个人自付变化（负数为退还患者）", "self_pay_difference")]
                    + [
                        (f"{fund}补付（负数为收回）", (lambda f: lambda p: p["funds"].get(f, 0))(fund))
                        for fund in funds
                    ]
                )
                return export_list(
                    resources.export_resource(columns),
                    people,
                    name="重新结算差额",
                    filters=[("年度", str(run.year))],
                    filename=f"重新结算差额-{run.year}-{_stamp()}.xlsx",
                )
        return render(request, "settlement/run_detail.html", context)

    def export_simulation(self, run, context):
        columns = [("指标", "label"), ("现行政策", "stored"), ("草稿政策", "draft"), ("变化", "change")]
        rows = context["rows"] + [
            {"label": f"未脱贫患者自付{b['band']}元的人数", **b} for b in context["bands"]
        ]
        code = run.policy.code if run.policy else ""
        return export_list(
            resources.export_resource(columns),
            rows,
            name="政策模拟",
            filters=[("草稿政策", code), ("年度", str(run.year))],
            filename=f"政策模拟-{code}-{run.year}.xlsx",
        )


class RunProgressView(RunMixin, View):
    def get(self, request, pk):
        run = self.get_run()
        finished = run.status not in RUNNING
        percent = 100 if finished else (int(100 * run.done / run.total) if run.total else 0)
        if run.status == SettlementRun.Status.QUEUED:
            stage = "排队中，等待后台任务开始…"
        elif run.status == SettlementRun.Status.RUNNING:
            stage = f"已处理 {run.done} / {run.total} 人"
        else:
            stage = run.get_status_display()
        return JsonResponse({"percent": percent, "stage": stage, "done": finished, "redirect": None})


class SimulationView(ServiceFormView):
    county_required = True
    template_name = "settlement/simulation.html"
    form_class = SimulationForm
    success_message = ""

    def extra_form_kwargs(self):
        return {"policies": selectors.draft_policies()}

    def get_initial(self):
        return {"year": _default_year(), "policy": self.request.GET.get("policy")}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["runs"] = selectors.runs().filter(kind=SettlementRun.Kind.SIMULATE)[:10]
        return context

    def save(self, form):
        self.run = services.settlement_run_start(
            user=self.request.user,
            kind=SettlementRun.Kind.SIMULATE,
            year=form.cleaned_data["year"],
            policy=form.cleaned_data["policy"],
        )
        return self.run

    def get_success_url(self):
        return reverse("settlement:run_detail", args=[self.run.pk])
