"""The one vocabulary of pages, used by every app (public API of the registry, because role
checks need the registry's roles; core holds what needs no registry model: the domain error
and ``core.forms.show_domain_error``).

* ``RoleRequiredMixin`` — every page: any role reads; ``write_required`` refuses supervisors;
  ``county_required`` county staff only; ``county_wide`` refuses township clinics (county-wide
  money pages). Township scoping is the querysets' (selectors), never the view's.
* ``Scoped`` + ``FilteredListView`` / ``DetailView`` — lists and detail pages whose queryset
  is ``selector(user)`` (``ScopedListView``, ``ScopedDetailView``): another township's record
  is a 404.
* ``ObjectMixin`` — loads ``self.object`` from the selector before anything else (404).
* ``ServiceFormView`` — every form that changes data: ``save(form)`` calls one service; a
  ``DomainError`` goes back onto the form (its field, or above the form for a conflict);
  warnings the service returns become messages. Versioned edits are ``ObjectMixin`` +
  ``ServiceFormView`` with the object as the form's instance (``VersionedForm``).
* Views that only act (a POST button) are ``RoleRequiredMixin`` + ``View`` and show a
  ``DomainError`` with ``messages.error``.
"""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.views.generic import DetailView, FormView
from django_filters.views import FilterView

from core import exportjobs
from core.errors import DomainError
from core.export import XLSX, content_disposition, describe_filters, export_response, iterate
from core.forms import show_domain_error

from . import roles


class RoleRequiredMixin:
    """``write_required``: refuses supervisors on every method; ``county_required``: county
    staff only; ``county_wide``: county staff and supervisors (a township clinic → 403)."""

    write_required = False
    county_required = False
    county_wide = False
    hospital_allowed = False  # a 定点医疗机构 user: refused (403) unless the page opens itself

    def dispatch(self, request, *args, **kwargs):
        self.check_access(request)
        return super().dispatch(request, *args, **kwargs)

    def check_access(self, request) -> None:
        """The role checks of the page (also run by an export job, as its owner)."""
        if not roles.can_read(request.user):
            raise PermissionDenied("当前账号没有分配角色，请联系县级管理员。")
        if roles.hospital_refused(request.user, self):
            raise PermissionDenied("定点医疗机构账号只能查看本机构的就诊记录和结算单。")
        if self.county_required and not roles.is_county(request.user):
            raise PermissionDenied("此功能仅限县级工作人员使用。")
        if self.county_wide and roles.township_id_of(request.user) is not None:
            raise PermissionDenied("此页面为全县资金数据，仅限县级工作人员和督查领导查看。")
        if self.write_required and not roles.can_write(request.user):
            raise PermissionDenied("当前账号为只读角色，不能修改数据。")


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
        if chosen and str(chosen).isdigit() and int(chosen) < 2**63:  # a database id
            village.queryset = village.queryset.filter(township_id=chosen)
    return filterset


class FilteredListView(RoleRequiredMixin, FilterView):
    """A paginated, filtered list whose ``?export=xlsx`` downloads the same filtered rows,
    written by ``core.export`` with the columns of ``resource_class`` (a ``core.export.Sheet``).

    More than ``EXPORT_ASYNC_ROWS`` rows: the export becomes a background job
    (``core.exportjobs``) and the answer a redirect to its progress page; the job rebuilds
    this view as the same user with the same parameters (``export_parts``)."""

    paginate_by = 50
    resource_class = None
    export_name = "export"

    def get_filterset(self, filterset_class):
        return page_filters(super().get_filterset(filterset_class), self.request.user)

    def exportable(self) -> bool:
        return self.resource_class is not None

    def export_parts(self) -> dict:
        """What the export writes: the page's filtered queryset, its columns, its filters."""
        self.check_access(self.request)
        filterset = self.get_filterset(self.get_filterset_class())
        queryset = filterset.qs if filterset.is_valid() else self.get_queryset()
        return {
            "sheet": self.resource_class,
            "rows": queryset,
            "title": self.export_name,
            "filters": describe_filters(filterset.form),
        }

    def get(self, request, *args, **kwargs):
        if request.GET.get("export") == "xlsx" and self.exportable():
            parts = self.export_parts()
            if exportjobs.export_is_async(parts["rows"].count()):
                job = exportjobs.export_job_create(
                    user=request.user,
                    view_name=request.resolver_match.view_name,
                    view_kwargs=kwargs,
                    params=dict(request.GET.lists()),
                    title=self.export_name,
                )
                return HttpResponseRedirect(reverse("core:export_job", args=[job.pk]))
            return export_list(parts["sheet"], parts["rows"], name=parts["title"], filters=parts["filters"])
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


class Scoped:
    """``selector`` (a function of the user) gives the queryset, so township scoping stays in
    selectors.py; ``ordering`` orders lists."""

    selector = None
    ordering = None

    def get_queryset(self):
        queryset = type(self).selector(self.request.user)
        return queryset.order_by(*self.ordering) if self.ordering else queryset


class ScopedListView(Scoped, FilteredListView):
    pass


class ScopedDetailView(Scoped, RoleRequiredMixin, DetailView):
    pass


class ObjectMixin:
    """Loads ``self.object`` from ``queryset_for(user)``, by default the ``selector`` (404
    outside the user's scope)."""

    selector = None
    object = None

    def queryset_for(self, user):
        return type(self).selector(user)

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and "pk" in kwargs:
            self.object = get_object_or_404(self.queryset_for(request.user), pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        kwargs.setdefault("object", self.object)
        return super().get_context_data(**kwargs)


class ServiceFormView(RoleRequiredMixin, FormView):
    """A form whose ``save(form)`` calls a service: a ``DomainError`` goes back onto the form
    (on its field when the form has it), warnings returned by the service (``(obj,
    warnings)``) become messages. ``form_instance`` (e.g. ``self.object``) is passed to a
    model form as its instance."""

    write_required = True
    title = ""
    success_message = "已保存。"
    cancel_url = None

    def save(self, form):
        raise NotImplementedError

    def form_instance(self):
        return None

    def form_valid(self, form):
        try:
            result = self.save(form)
        except DomainError as exc:
            self.refused(form, exc)
            show_domain_error(form, exc)
            return self.form_invalid(form)
        warnings = result[1] if isinstance(result, tuple) else []
        if self.success_message:
            messages.success(self.request, self.success_message)
        for warning in warnings:
            messages.warning(self.request, warning)
        return HttpResponseRedirect(self.get_success_url())

    def refused(self, form, exc: DomainError) -> None:
        """Called before a service's refusal goes onto the form (e.g. a new one-time token)."""

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        instance = self.form_instance()
        if instance is not None:
            kwargs["instance"] = instance
        kwargs.update(self.extra_form_kwargs())
        return kwargs

    def extra_form_kwargs(self):
        return {}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(title=self.title, cancel_url=self.cancel_url or self.request.GET.get("next") or "")
        return context
