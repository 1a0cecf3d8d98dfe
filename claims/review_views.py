"""Pages of the claims review (审核): the queue, one claim's review, the per-institution
report and a hospital's feedback. Thin: reads from ``review_selectors``, the decision from
``review.review_decide``."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django.urls import reverse
from django.views import View

from core.export import describe_filters
from registry.idnumber import mask_id_number
from registry.pages import ObjectMixin, RoleRequiredMixin, ScopedListView, ServiceFormView, export_list

from . import access, filtersets, resources, review, review_selectors, selectors
from .forms import ReviewDecisionForm, ReviewReportForm
from .models import Institution


class ReviewQueueView(ScopedListView):
    """审核工作台: flagged or decided claims, by institution, rule and state. County staff
    decide; supervisors read; a township clinic has no queue (the county reviews)."""

    template_name = "claims/review_queue.html"
    filterset_class = filtersets.ReviewQueueFilterSet
    resource_class = resources.ReviewQueueResource
    export_name = "医保审核"
    selector = review_selectors.review_queue_for
    ordering = ("-service_date", "-id")

    def check_access(self, request) -> None:
        super().check_access(request)
        if not review_selectors.reads_county_wide(request.user):
            raise PermissionDenied("医保审核仅限县级工作人员和督查领导。")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = list(context["object_list"])
        labels = dict(review_selectors.STATES)
        for row in rows:
            row.review_state = review_selectors.review_state(row)
            row.review_state_label = labels[row.review_state]
            row.decision = row.current_decision[0] if row.current_decision else None
        context["rows"] = rows
        return context


class ReviewDecideView(ObjectMixin, ServiceFormView):
    """One claim's review: its flags, items and earlier decisions, and the decision form."""

    template_name = "claims/review_detail.html"
    form_class = ReviewDecisionForm
    selector = review_selectors.review_encounter_for
    county_required = True
    title = "医保审核"
    success_message = "审核结论已保存，结算将按结论重新计算。"

    def items(self):
        if not hasattr(self, "_items"):
            self._items = list(self.object.items.order_by("position"))
        return self._items

    def extra_form_kwargs(self):
        return {"encounter": self.object, "items": self.items()}

    def save(self, form):
        self.decision = review.review_decide(
            user=self.request.user, encounter=self.object, **form.decision_args()
        )
        return self.decision

    def refused(self, form, exc):
        form.renew_token()

    def get_success_url(self):
        return self.request.GET.get("next") or reverse("claims:review_queue")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        encounter = self.object
        context.update(
            encounter=encounter,
            masked_id=mask_id_number(encounter.member.id_number),
            flags=list(encounter.review_flags.all()),
            decisions=list(review_selectors.decisions_of(encounter)),
            billed=sum(i.amount for i in self.items()) if self.items() else encounter.total_cost,
        )
        return context


def _default_year() -> int:
    return selectors.today().year


class ReviewReportView(RoleRequiredMixin, View):
    """审核报表 per institution (year or month), with its Excel export. Every role reads it;
    a township clinic's figures are its township's patients only (the selector scopes)."""

    hospital_allowed = True  # its own institution's rows (review_selectors.review_report)

    template_name = "claims/review_report.html"

    def get(self, request):
        data = {"year": request.GET.get("year") or _default_year(), **request.GET.dict()}
        form = ReviewReportForm(data)
        f = (
            form.cleaned_data
            if form.is_valid()
            else {"year": _default_year(), "month": None, "institution": None}
        )
        report = review_selectors.review_report(
            request.user, year=f["year"], month=f.get("month"), institution=f.get("institution")
        )
        if request.GET.get("export") == "xlsx":
            period = f"{f['year']}年" + (f"{f['month']}月" if f.get("month") else "")
            return export_list(
                resources.review_report_resource(report["reasons"]),
                [*report["rows"], report["totals"]],
                name=f"医保审核报表{period}",
                filters=describe_filters(form),
            )
        query = request.GET.copy()
        query["export"] = "xlsx"
        return render(
            request,
            self.template_name,
            {"form": form, "report": report, "filters": f, "export_url": f"?{query.urlencode()}"},
        )


class ReviewFeedbackView(RoleRequiredMixin, View):
    """审核反馈: an institution's deductions and rejections with their reasons. A hospital user
    sees its own institution only (``access.institution_of``); county staff and supervisors
    choose an institution; a township clinic has no feedback page."""

    template_name = "claims/review_feedback.html"
    hospital_allowed = True  # its own institution's (access.institution_of)

    def institution(self, request) -> Institution | None:
        own = access.institution_of(request.user)
        if own is not None:
            return own
        if not review_selectors.reads_county_wide(request.user):
            raise PermissionDenied("审核反馈仅供定点医疗机构、县级工作人员和督查领导查看。")
        chosen = request.GET.get("institution", "")
        if chosen.isdigit() and int(chosen) < 2**63:
            return Institution.objects.filter(pk=int(chosen)).first()
        return None

    def get(self, request):
        institution = self.institution(request)
        own = access.institution_of(request.user) is not None
        decisions = review_selectors.review_feedback_for_institution(institution)
        if request.GET.get("export") == "xlsx" and institution is not None:
            return export_list(
                resources.ReviewFeedbackResource, decisions, name=f"审核反馈-{institution.name}"
            )
        return render(
            request,
            self.template_name,
            {
                "institution": institution,
                "own": own,
                "institutions": [] if own else Institution.objects.order_by("name"),
                "decisions": decisions[:200],
            },
        )
