"""The home page (the project's own page; the apps' pages use registry.pages)."""

from django.contrib import messages
from django.db.models import Count, Q
from django.views.generic import TemplateView

from registry import roles
from registry.models import PovertyStatus
from registry.pages import RoleRequiredMixin
from registry.selectors import townships_for


class HomeView(RoleRequiredMixin, TemplateView):
    hospital_allowed = True  # townships_for(hospital) is empty: the page shows its links only
    template_name = "home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        townships = (
            townships_for(user)
            .annotate(
                households=Count("villages__households", distinct=True),
                members=Count("villages__households__members"),
                insured=Count(
                    "villages__households__members", filter=Q(villages__households__members__insured=True)
                ),
                poor=Count(
                    "villages__households",
                    filter=Q(villages__households__poverty_status=PovertyStatus.POOR),
                    distinct=True,
                ),
            )
            .order_by("name")
        )
        rows = list(townships)
        totals = {
            key: sum(getattr(t, key) for t in rows) for key in ("households", "members", "insured", "poor")
        }
        for row in rows:
            row.insured_rate = (100 * row.insured / row.members) if row.members else None
        totals["insured_rate"] = (100 * totals["insured"] / totals["members"]) if totals["members"] else None
        context.update(townships=rows, totals=totals)
        if not rows and roles.is_county(user):
            messages.info(self.request, "还没有任何乡镇和户的数据：请先在“名册导入”上传花名册。")
        return context
