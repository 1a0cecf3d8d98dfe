"""Pieces every app's pages share: role checks, filtered lists with Excel export, home."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpResponse
from django.utils import timezone
from django.views.generic import TemplateView
from django_filters.views import FilterView

from core.export import XLSX, content_disposition, describe_filters, export_response, iterate
from registry import roles


class RoleRequiredMixin:
    """``write_required``: refuses supervisors on every method; ``county_required``: county
    staff only. Township scoping is done by the querysets (selectors)."""

    write_required = False
    county_required = False

    def dispatch(self, request, *args, **kwargs):
        if not roles.can_read(request.user):
            raise PermissionDenied("当前账号没有分配角色，请联系县级管理员。")
        if self.county_required and not roles.is_county(request.user):
            raise PermissionDenied("此功能仅限县级工作人员使用。")
        if self.write_required and not roles.can_write(request.user):
            raise PermissionDenied("当前账号为只读角色，不能修改数据。")
        return super().dispatch(request, *args, **kwargs)


YES_NO = [("", "全部"), ("true", "是"), ("false", "否")]


def page_filters(filterset, user):
    """What a clerk expects of a list page's filters, for every list (the API and exports keep
    the filter set as it is): yes/no filters offer 全部 / 是 / 否 (全部 first, not 未知); a
    township clinic has no 乡镇 filter (it sees one township); for county staff the 行政村
    choices follow the chosen 乡镇. Empty selects read 「全部」 (settings FILTERS_EMPTY_CHOICE_LABEL)."""
    fields = filterset.form.fields
    for field in fields.values():
        if isinstance(field, forms.NullBooleanField):
            field.widget = forms.Select(choices=YES_NO)
    if "township" in fields and roles.township_id_of(user) is not None:
        del fields["township"]
    village, township = fields.get("village"), fields.get("township")
    chosen = filterset.form.data.get("township") if filterset.is_bound else None
    if village is not None and township is not None:
        village.widget.attrs["data-follows"] = township.widget.attrs["data-leads"] = "township"
        if chosen and str(chosen).isdigit():
            village.queryset = village.queryset.filter(township_id=chosen)
    return filterset


class FilteredListView(RoleRequiredMixin, FilterView):
    """A paginated, filtered list whose ``?export=xlsx`` downloads the same filtered rows,
    written by ``core.export`` with the columns of ``resource_class`` (a ``core.export.Sheet``)."""

    paginate_by = 50
    resource_class = None
    export_name = "export"

    def get_filterset(self, filterset_class):
        return page_filters(super().get_filterset(filterset_class), self.request.user)

    def get(self, request, *args, **kwargs):
        if request.GET.get("export") == "xlsx" and self.resource_class is not None:
            filterset = self.get_filterset(self.get_filterset_class())
            queryset = filterset.qs if filterset.is_valid() else self.get_queryset()
            return export_list(
                self.resource_class, queryset, name=self.export_name, filters=describe_filters(filterset.form)
            )
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if self.resource_class is not None:
            query = self.request.GET.copy()
            query.pop("page", None)
            query["export"] = "xlsx"
            context["export_url"] = f"?{query.urlencode()}"
        return context


def export_list(sheet, rows, *, name: str, filters=(), filename: str | None = None):
    """The .xlsx download of a list or report: ``rows`` (a queryset is iterated in chunks)
    through ``sheet``'s columns, the filters in the title row."""
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return export_response(
        filename=filename or f"{name}-{stamp}.xlsx",
        sheet=sheet,
        rows=iterate(rows),
        title=name,
        filters=filters,
    )


def xlsx_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=XLSX)
    response["Content-Disposition"] = content_disposition(filename)
    return response


class HomeView(RoleRequiredMixin, TemplateView):
    template_name = "home.html"

    def get_context_data(self, **kwargs):
        from registry.selectors import townships_for

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
                    filter=Q(villages__households__poverty_status="poor"),
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
