"""Registry pages. Thin: scoping comes from selectors, rules from services."""

from django.contrib import messages
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import DetailView, FormView, ListView, TemplateView

from core import views as imports
from core.forms import show_domain_error

from . import fact_services, facts, roles, selectors, services
from .filtersets import HouseholdFilterSet, MemberFilterSet
from .forms import EnrollmentUploadForm, HouseholdForm, MemberCreateForm, MemberForm, RosterUploadForm
from .idnumber import mask_birth_date, mask_id_number
from .pages import FilteredListView, ObjectMixin, RoleRequiredMixin, ServiceFormView, xlsx_response
from .resources import HouseholdResource, MemberResource


class HouseholdListView(FilteredListView):
    template_name = "registry/household_list.html"
    filterset_class = HouseholdFilterSet
    resource_class = HouseholdResource
    export_name = "贫困户名单"

    def get_queryset(self):
        return selectors.households_for(self.request.user)


class HouseholdDetailView(RoleRequiredMixin, DetailView):
    template_name = "registry/household_detail.html"
    context_object_name = "household"

    def get_queryset(self):
        return selectors.households_for(self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        household = self.object
        members = list(household.members.order_by("id"))
        for member in members:
            member.masked_id = mask_id_number(member.id_number)
            member.shown_birth = mask_birth_date(member.birth_date)
        history = selectors.household_history(household)
        context.update(
            members=members,
            history=history,
            status_periods=facts.status_periods_of(household),
            status_changes=[
                (record, change)
                for record, changes in history
                for change in changes
                if change[0] in ("脱贫状态", "贫困户属性")
            ],
        )
        return context


class HouseholdUpdateView(ObjectMixin, ServiceFormView):
    template_name = "registry/household_form.html"
    form_class = HouseholdForm
    selector = selectors.households_for

    def form_instance(self):
        return self.object

    def extra_form_kwargs(self):
        return {"user": self.request.user}

    def save(self, form):
        services.household_update(
            user=self.request.user,
            household=self.object,
            version=form.cleaned_data["version"],
            changes=form.changes(),
        )

    def get_success_url(self):
        return reverse("registry:household_detail", args=[self.object.pk])


class MemberListView(FilteredListView):
    template_name = "registry/member_list.html"
    filterset_class = MemberFilterSet
    resource_class = MemberResource
    export_name = "家庭成员名单"

    def get_queryset(self):
        return selectors.members_for(self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        for member in context["object_list"]:
            member.masked_id = mask_id_number(member.id_number)
        return context


class MemberDetailView(RoleRequiredMixin, DetailView):
    template_name = "registry/member_detail.html"
    context_object_name = "member"

    def get_queryset(self):
        return selectors.members_for(self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        member = self.object
        user = self.request.user
        context.update(
            shown_id=roles.shown_id_number(user, member.id_number),
            shown_birth=roles.shown_birth_date(user, member.birth_date),
            id_is_full=roles.can_view_full_id(user),
            history=selectors.member_history(member),
            **facts.member_fact_context(member),
        )
        return context


class MemberUpdateView(ObjectMixin, ServiceFormView):
    template_name = "registry/member_form.html"
    form_class = MemberForm
    selector = selectors.members_for

    def form_instance(self):
        return self.object

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["user"] = self.request.user
        return kwargs

    def save(self, form):
        services.member_update(
            user=self.request.user,
            member=self.object,
            version=form.cleaned_data["version"],
            changes=form.changes(),
        )

    def get_success_url(self):
        return reverse("registry:member_detail", args=[self.object.pk])


class MemberCreateView(RoleRequiredMixin, FormView):
    write_required = True
    template_name = "registry/member_form.html"
    form_class = MemberCreateForm

    def dispatch(self, request, *args, **kwargs):
        self.household = get_object_or_404(selectors.households_for(request.user), pk=kwargs["pk"])
        return super().dispatch(request, *args, **kwargs)

    def form_valid(self, form):
        try:
            self.member = services.member_create(
                user=self.request.user, household=self.household, **form.cleaned_data
            )
        except services.RegistryError as exc:
            show_domain_error(form, exc)
            return self.form_invalid(form)
        messages.success(self.request, f"已添加成员 {self.member.name}。")
        return redirect("registry:household_detail", pk=self.household.pk)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["household"] = self.household
        return context


class AreaListView(RoleRequiredMixin, ListView):
    template_name = "registry/area_list.html"
    context_object_name = "villages"

    def get_queryset(self):
        return (
            selectors.villages_for(self.request.user)
            .annotate(household_count=Count("households"))
            .order_by("township__name", "name")
        )


class EnrollmentFiguresView(RoleRequiredMixin, TemplateView):
    """应保尽保: a year's enrollment and premium subsidy per township (dated facts)."""

    template_name = "registry/enrollment_figures.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        years = facts.enrollment_years()
        try:
            year = int(self.request.GET.get("year") or years[0])
        except ValueError:
            year = years[0]
        if year not in years:
            years = sorted({*years, year}, reverse=True) if 2000 <= year <= 2100 else years
            year = year if year in years else years[0]
        rows, total, funds = facts.enrollment_figures(self.request.user, year)
        context.update(year=year, years=years, rows=rows, total=total, funds=funds)
        return context


# --- roster import -------------------------------------------------------------------------


class RosterImportMixin(RoleRequiredMixin):
    county_required = True
    import_kind = "roster"
    title = "名册导入"
    unit_label = "户"
    summary_template = "registry/_roster_import_summary.html"
    intro_template = "registry/_roster_import_intro.html"
    form_class = RosterUploadForm
    url_names = imports.import_url_names(
        "registry:roster_import", upload="registry:roster_upload", template="registry:roster_template"
    )
    create_service = staticmethod(services.roster_job_create)
    confirm_service = staticmethod(services.roster_job_confirm)


class RosterImportListView(RosterImportMixin, imports.ImportListView):
    pass


class RosterUploadView(RosterImportMixin, imports.ImportUploadView):
    pass


class RosterImportDetailView(RosterImportMixin, imports.ImportDetailView):
    pass


class RosterProgressView(RosterImportMixin, imports.ImportProgressView):
    pass


class RosterConfirmView(RosterImportMixin, imports.ImportConfirmView):
    pass


class RosterRejectedRowsView(RosterImportMixin, imports.ImportRejectedView):
    pass


class RosterTemplateView(RoleRequiredMixin, View):
    def get(self, request):
        return xlsx_response(services.roster_template_workbook(), "贫困人口花名册模板.xlsx")


# --- enrollment-list import (参保名单导入) ------------------------------------------------------


class EnrollmentImportMixin(RoleRequiredMixin):
    county_required = True
    import_kind = "enrollments"
    title = "参保名单导入"
    summary_template = "registry/_enrollment_import_summary.html"
    intro_template = "registry/_enrollment_import_intro.html"
    form_class = EnrollmentUploadForm
    url_names = imports.import_url_names("registry:enrollment_import")
    create_service = staticmethod(fact_services.enrollment_job_create)
    confirm_service = staticmethod(fact_services.enrollment_job_confirm)


class EnrollmentImportListView(EnrollmentImportMixin, imports.ImportListView):
    pass


class EnrollmentUploadView(EnrollmentImportMixin, imports.ImportUploadView):
    pass


class EnrollmentImportDetailView(EnrollmentImportMixin, imports.ImportDetailView):
    pass


class EnrollmentProgressView(EnrollmentImportMixin, imports.ImportProgressView):
    pass


class EnrollmentConfirmView(EnrollmentImportMixin, imports.ImportConfirmView):
    pass


class EnrollmentRejectedRowsView(EnrollmentImportMixin, imports.ImportRejectedView):
    pass


class EnrollmentTemplateView(RoleRequiredMixin, View):
    county_required = True

    def get(self, request):
        return xlsx_response(fact_services.enrollment_template_workbook(), "参保名单模板.xlsx")
