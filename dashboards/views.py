"""Dashboard and report pages. Thin: figures come from selectors, tables from reports, changes
from services; township scoping is the selectors' (a township user asking for another
township's page gets a 404)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View
from django.views.generic import TemplateView

from aid import selectors as aid_selectors
from core.export import describe_filters
from core.forms import show_domain_error
from registry import roles
from registry.pages import RoleRequiredMixin, export_list, page_filters
from registry.selectors import townships_for, villages_for

from . import reports, selectors, services, tasks
from .definitions import Period
from .filtersets import SurveyFilterSet, place_filterset
from .forms import (
    NoticePickForm,
    NoticePublishForm,
    ObjectionForm,
    PeriodForm,
    RefreshForm,
    ResolveForm,
    TargetsForm,
    YearForm,
)
from .models import MemberYearCell, Notice, RefreshRun

_SAFE = ("GET", "HEAD", "OPTIONS")


class DashboardMixin(RoleRequiredMixin):
    """Any role reads; supervisors are refused every POST, even where a page has no form, so
    read-only is one rule for all dashboard URLs."""

    def dispatch(self, request, *args, **kwargs):
        if request.method not in _SAFE and roles.can_read(request.user) and not roles.can_write(request.user):
            raise PermissionDenied("当前账号为只读角色，不能修改数据。")
        return super().dispatch(request, *args, **kwargs)


class TablesMixin:
    """``?export=<table key>`` downloads that table of the page as .xlsx."""

    def get_tables(self) -> list[reports.Table]:
        raise NotImplementedError

    def get(self, request, *args, **kwargs):
        key = request.GET.get("export")
        if key:
            for table in self.get_tables(export=True):
                if table.key == key:
                    return export_list(
                        table.sheet(), table.export_rows(), name=table.title, filters=self.export_filters()
                    )
            raise Http404("没有这张表。")
        return super().get(request, *args, **kwargs)

    def export_filters(self) -> list[tuple[str, str]]:
        """The filters of the page, written in the title row of its exports."""
        filters = []
        period = getattr(self, "period", None)
        if isinstance(period, Period):
            filters.append(("期间", period.label))
        for name in ("township", "village"):
            place = getattr(self, name, None) if name in dir(type(self)) else None
            if place is not None and hasattr(place, "name"):
                filters.append(("乡镇" if name == "township" else "行政村", place.name))
        filterset = getattr(self, "filterset", None) if "filterset" in dir(type(self)) else None
        if filterset is not None:
            filters += describe_filters(filterset.form)
        return filters


class PeriodMixin:
    @cached_property
    def period_form(self):
        return PeriodForm(self.request.GET or None)

    @cached_property
    def period(self):
        return self.period_form.period_or_default()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            period=self.period,
            period_form=self.period_form,
            running_refresh=selectors.running_refresh() if roles.is_county(self.request.user) else None,
            refresh_form=RefreshForm(initial={"year": self.period.year}),
        )
        return context


# --- dashboards -------------------------------------------------------------------------------------


class OverviewView(DashboardMixin, PeriodMixin, TablesMixin, TemplateView):
    """The county (or, with ``pk``, one township's villages): cards, charts, their tables."""

    template_name = "dashboards/overview.html"

    @cached_property
    def township(self):
        if "pk" not in self.kwargs:
            return None
        return get_object_or_404(townships_for(self.request.user), pk=self.kwargs["pk"])

    @cached_property
    def board(self):
        return selectors.board(self.request.user, self.period, township=self.township)

    def place(self):
        return {"township": self.township.pk} if self.township else {}

    def get_tables(self, export=False):
        board = self.board
        return [
            reports.comparison_table(board),
            reports.rates_table(board),
            reports.trend_table(board),
            reports.payers_table(board),
            reports.kinds_table(board, self.place()),
            reports.payouts_table(board),
        ]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        comparison, rates, trend, payers, kinds, payouts = self.get_tables()
        target = self.board.targets["self_pay_ratio"]
        charts = {
            "chart-rates": reports.bar_chart(rates, rates.title, [1, 2, 3, 4]),
            "chart-self_pay": reports.bar_chart(
                rates, f"未脱贫住院自付比例（目标≤{target}%）", [5], target_value=target
            ),
            "chart-trend": reports.trend_chart(trend),
            "chart-payers": reports.pie_chart(payers),
        }
        links = reports.Links(self.period, self.place())
        context.update(
            board=self.board,
            township=self.township,
            cards=[*reports.cards(self.board, links), self.aid_card()],
            comparison=comparison,
            rates=rates,
            trend=trend,
            payers=payers,
            kinds=kinds,
            payouts=payouts,
            charts=charts,
        )
        return context

    def aid_card(self) -> reports.Card:
        """Aid applications past their working-day deadline today (aid.selectors, read live:
        a count of open cases, not a figure of the period's summary cells)."""
        township = self.township.pk if self.township else roles.township_id_of(self.request.user)
        late = aid_selectors.overdue_count(township=township)
        url = (
            reverse("aid:application_list") + "?overdue=true" + (f"&township={township}" if township else "")
        )
        note = f"超过{aid_selectors.deadline_days()}个工作日未给付（当前）"
        return reports.Card("救助申请超期", late, "int", url, late > 0, note=note)


class TownshipTableView(DashboardMixin, PeriodMixin, TablesMixin, TemplateView):
    """The township comparison table alone (wide, printable)."""

    template_name = "dashboards/townships.html"

    @cached_property
    def board(self):
        return selectors.board(self.request.user, self.period)

    def get_tables(self, export=False):
        return [reports.comparison_table(self.board)]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(board=self.board, table=self.get_tables()[0])
        return context


class YearMixin:
    """The year of a yearly page: ``?year=``, else this year if it has settlements, else the
    latest year that has (opened from the menu, the page shows data, not 暂无数据). The year
    select shows the year the page holds."""

    @cached_property
    def year(self):
        return YearForm(self.request.GET or None).year_or_default(
            lambda: selectors.default_year(self.request.user)
        )

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(year=self.year, year_form=YearForm({"year": self.year}))
        return context


class ListPageMixin(TablesMixin):
    """A paginated table of live rows with place filters; the export holds every row."""

    paginate_by = 50
    filterset_class = None

    def get_objects(self):
        raise NotImplementedError

    def build_table(self, objects) -> reports.Table:
        raise NotImplementedError

    @cached_property
    def filterset(self):
        return page_filters(
            self.filterset_class(self.request.GET or None, queryset=self.get_objects(), request=self.request),
            self.request.user,
        )

    def filtered(self):
        # Unbound (opened from the menu, no query string): every row, not none.
        if not self.filterset.is_bound or self.filterset.is_valid():
            return self.filterset.qs
        return self.get_objects().none()

    def get_tables(self, export=False):
        if export:
            return [self.build_table(self.filtered())]
        return [self.build_table(self.page.object_list)]

    @cached_property
    def page(self):
        return Paginator(self.filtered(), self.paginate_by).get_page(self.request.GET.get("page"))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(filter=self.filterset, page_obj=self.page, table=self.get_tables()[0])
        return context


class FigureListView(DashboardMixin, PeriodMixin, ListPageMixin, TemplateView):
    """The people (households, contracts, encounters, settlements) behind one figure."""

    template_name = "dashboards/figure_list.html"

    @cached_property
    def spec(self):
        if self.kwargs["figure"] not in reports.FIGURE_LISTS:
            raise Http404("没有这项指标。")
        return reports.FIGURE_LISTS[self.kwargs["figure"]]

    def get_objects(self):
        user, period, figure = self.request.user, self.period, self.kwargs["figure"]
        if figure == "uninsured":
            return selectors.uninsured_members(user)
        if figure == "unsigned":
            return selectors.unsigned_households(user, period)
        if figure == "nofollowup":
            return selectors.contracts_without_followup(user, period)
        if figure == "illnesses":
            state = self.request.GET.get("state", "all")
            return selectors.illnesses_in_period(
                user, period, state if state in selectors.ILLNESS_STATES else "all"
            )
        if figure == "out_of_county":
            return selectors.out_of_county_encounters(user, period)
        return selectors.poor_inpatient_settlements(user, period)

    @property
    def filterset_class(self):
        return place_filterset(self.get_objects().model, self.spec.place)

    def build_table(self, objects):
        title = (
            self.spec.title
            if self.kwargs["figure"] == "uninsured"
            else f"{self.spec.title}（{self.period.label}）"
        )
        return reports.figure_table(self.kwargs["figure"], objects, title)


class RiskListView(DashboardMixin, YearMixin, ListPageMixin, TemplateView):
    """因病返贫 risk: members whose self-pay of the year exceeds half their household's income."""

    template_name = "dashboards/risk_list.html"
    filterset_class = place_filterset(MemberYearCell, "village")

    @cached_property
    def without_income(self):
        return self.request.GET.get("without_income") == "1"

    def get_objects(self):
        return selectors.risk_members(self.request.user, self.year, without_income=self.without_income)

    def build_table(self, objects):
        title = (
            f"{self.year}年有自付但无家庭收入信息人员"
            if self.without_income
            else f"{self.year}年因病返贫风险人员（自付超过家庭年收入50%）"
        )
        return reports.risk_table(objects, title)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            without_income=self.without_income,
            stamp=selectors.year_stamp(self.year),
        )
        return context


# --- targets and refresh ---------------------------------------------------------------------------


class TargetsView(DashboardMixin, TemplateView):
    template_name = "dashboards/targets.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("form", TargetsForm(values=selectors.targets()))
        context["can_edit"] = roles.is_county(self.request.user)
        return context

    def post(self, request):
        roles.require_county(request.user)
        form = TargetsForm(request.POST, values=selectors.targets())
        if form.is_valid():
            try:
                services.targets_update(user=request.user, values=form.cleaned_data)
            except services.DashboardError as exc:
                show_domain_error(form, exc)
            else:
                messages.success(request, "考核目标已保存。")
                return redirect("dashboards:targets")
        return self.render_to_response(self.get_context_data(form=form))


def _back(request, default):
    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


class RefreshView(DashboardMixin, View):
    """立即刷新: county staff queue a refresh and come back to the page, which shows progress."""

    county_required = True

    def post(self, request):
        form = RefreshForm(request.POST)
        year = form.cleaned_data.get("year") if form.is_valid() else None
        try:
            run = services.refresh_request(user=request.user, year=year)
        except services.DashboardError as exc:
            messages.error(request, exc.message)
        else:
            tasks.enqueue_refresh(run.pk)
            messages.info(request, f"已开始刷新{'、'.join(str(y) for y in run.years)}年的统计数据。")
        return redirect(_back(request, reverse("dashboards:overview")))


class RefreshProgressView(DashboardMixin, View):
    county_required = True

    def get(self, request, pk):
        run = get_object_or_404(RefreshRun, pk=pk)
        done = run.status in (RefreshRun.Status.DONE, RefreshRun.Status.FAILED)
        stage, percent = services.refresh_progress(run=run)
        payload = {
            "percent": 100 if done else percent,
            "stage": run.get_status_display() if done else stage,
            "done": done,
            "redirect": None,
        }
        if run.status == RefreshRun.Status.FAILED:
            payload["error"] = f"刷新失败：{run.error[:200]}"
        return JsonResponse(payload)


# --- public notices ---------------------------------------------------------------------------------


class NoticeIndexView(DashboardMixin, TemplateView):
    template_name = "dashboards/notice_index.html"

    def get(self, request, *args, **kwargs):
        form = NoticePickForm(request.GET or None, user=request.user)
        if request.GET and form.is_valid():
            data = form.cleaned_data
            return redirect("dashboards:notice", data["village"].pk, data["year"], data["month"])
        page = Paginator(selectors.notices_for(request.user), 30).get_page(request.GET.get("page"))
        return self.render_to_response(
            self.get_context_data(form=form, page_obj=page, notices=page.object_list)
        )


class NoticeView(DashboardMixin, TablesMixin, TemplateView):
    """A village's notice of a month: the live preview until county staff publish it, then the
    published entries with their objections. Printable (A4) and exportable."""

    template_name = "dashboards/notice.html"

    @cached_property
    def village(self):
        return get_object_or_404(villages_for(self.request.user), pk=self.kwargs["village"])

    @cached_property
    def month(self):
        year, month = self.kwargs["year"], self.kwargs["month"]
        if not (1 <= month <= 12 and 2000 <= year <= 2100):
            raise Http404("月份不正确。")
        return year, month

    @cached_property
    def notice(self):
        year, month = self.month
        return (
            Notice.objects.filter(village=self.village, year=year, month=month)
            .select_related("published_by", "closed_by")
            .first()
        )

    @cached_property
    def rows(self):
        if self.notice:
            return selectors.notice_rows(self.notice)
        year, month = self.month
        return selectors.notice_preview(village=self.village, year=year, month=month)

    def title(self):
        year, month = self.month
        return f"{self.village} {year}年{month}月 医疗费用报销公示"

    def get_tables(self, export=False):
        funds = self.notice.funds if self.notice else selectors.fund_columns(self.rows)
        return [reports.notice_table(self.rows, funds, self.title())]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        notice = self.notice
        context.update(
            village=self.village,
            year=self.month[0],
            month=self.month[1],
            notice=notice,
            table=self.get_tables()[0],
            title=self.title(),
            is_county=roles.is_county(user),
            can_write=roles.can_write(user),
            today=timezone.localdate(),
        )
        if notice:
            context.update(
                objections=list(selectors.objections_of(notice)),
                stale=[row for row in self.rows if not row.current],
            )
            context.setdefault(
                "objection_form",
                ObjectionForm(entries=self.rows, initial={"received_on": timezone.localdate()}),
            )
            context.setdefault("resolve_form", ResolveForm())
        else:
            context.setdefault(
                "publish_form", NoticePublishForm(initial={"published_on": timezone.localdate()})
            )
        return context

    def post(self, request, *args, **kwargs):
        roles.require_county(request.user)
        form = NoticePublishForm(request.POST)
        if form.is_valid():
            year, month = self.month
            try:
                services.notice_publish(
                    user=request.user, village=self.village, year=year, month=month, **form.cleaned_data
                )
            except services.DashboardError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, "公示已发布。")
            return redirect(request.path)
        return self.render_to_response(self.get_context_data(publish_form=form))


class NoticeObjectMixin:
    @cached_property
    def notice(self):
        return get_object_or_404(selectors.notices_for(self.request.user), pk=self.kwargs["pk"])

    def notice_url(self, notice):
        return reverse("dashboards:notice", args=[notice.village_id, notice.year, notice.month])


class NoticeCloseView(DashboardMixin, NoticeObjectMixin, View):
    county_required = True

    def post(self, request, pk):
        try:
            services.notice_close(user=request.user, notice=self.notice)
        except services.DashboardError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "公示已结束。")
        return redirect(self.notice_url(self.notice))


class ObjectionCreateView(DashboardMixin, NoticeObjectMixin, View):
    write_required = True

    def post(self, request, pk):
        notice = self.notice
        rows = selectors.notice_rows(notice)
        form = ObjectionForm(request.POST, entries=rows)
        if not form.is_valid():
            messages.error(
                request, "异议未登记：" + "；".join(e for errors in form.errors.values() for e in errors)
            )
            return redirect(self.notice_url(notice))
        data = dict(form.cleaned_data)
        entry_id = data.pop("entry")
        entry = notice.entries.filter(pk=entry_id).first() if entry_id else None
        try:
            services.objection_record(user=request.user, notice=notice, entry=entry, **data)
        except services.DashboardError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "异议已登记。")
        return redirect(self.notice_url(notice))


class ObjectionResolveView(DashboardMixin, View):
    county_required = True

    def post(self, request, pk):
        objection = selectors.objection_for(request.user, pk)
        form = ResolveForm(request.POST)
        if form.is_valid():
            try:
                services.objection_resolve(
                    user=request.user, objection=objection, resolution=form.cleaned_data["resolution"]
                )
            except services.DashboardError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, "已答复。")
        else:
            messages.error(request, "请填写处理结果。")
        notice = objection.notice
        return redirect("dashboards:notice", notice.village_id, notice.year, notice.month)


# --- fund use and the 因病致贫 survey ---------------------------------------------------------------


class FundUseView(DashboardMixin, YearMixin, TablesMixin, TemplateView):
    """Money each fund paid per month, for publication (公开)."""

    template_name = "dashboards/fund_use.html"

    @cached_property
    def township(self):
        pk = self.request.GET.get("township")
        if not pk:
            return None
        if not pk.isdigit():
            raise Http404("乡镇不正确。")
        return get_object_or_404(townships_for(self.request.user), pk=pk)

    @cached_property
    def use(self):
        return selectors.fund_use(self.request.user, self.year, township=self.township)

    def get_tables(self, export=False):
        return reports.fund_tables(self.use)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        by_month, tiers = self.get_tables()
        context.update(
            township=self.township,
            townships=townships_for(self.request.user).order_by("name"),
            use=self.use,
            by_month=by_month,
            tiers=tiers,
        )
        return context


class SurveyView(DashboardMixin, YearMixin, ListPageMixin, TemplateView):
    """因病致贫 调查表: one row per member with an illness record, figures of a year."""

    template_name = "dashboards/survey.html"
    filterset_class = SurveyFilterSet

    def get_objects(self):
        return selectors.survey_members(self.request.user)

    def build_table(self, objects):
        return reports.survey_table(selectors.survey_rows(objects, self.year), f"{self.year}年因病致贫调查表")
