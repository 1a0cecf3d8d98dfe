"""Registry pages. Thin: scoping comes from selectors, rules from services."""

from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views import View
from django.views.generic import DetailView, FormView, ListView

from healthaid.views import FilteredListView, RoleRequiredMixin, xlsx_response

from . import roles, selectors, services, tasks
from .filtersets import HouseholdFilterSet, MemberFilterSet
from .forms import HouseholdForm, MemberCreateForm, MemberForm, RosterUploadForm
from .idnumber import mask_birth_date, mask_id_number
from .models import RosterImport
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
            status_changes=[
                (record, change)
                for record, changes in history
                for change in changes
                if change[0] in ("脱贫状态", "贫困户属性")
            ],
        )
        return context


class VersionedUpdateView(RoleRequiredMixin, FormView):
    """Edit a record through a service that refuses saving over a newer version."""

    write_required = True
    form_class = None
    service = None

    def get_object(self):
        raise NotImplementedError

    def get_form_kwargs(self):
        self.object = self.get_object()
        kwargs = super().get_form_kwargs()
        kwargs["instance"] = self.object
        return kwargs

    def form_valid(self, form):
        try:
            self.save(form)
        except services.RegistryError as exc:
            if exc.code == "conflict":
                form.add_error(None, exc.message)
            else:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            return self.form_invalid(form)
        messages.success(self.request, "已保存。")
        return HttpResponseRedirect(self.get_success_url())

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["object"] = self.object
        return context


class HouseholdUpdateView(VersionedUpdateView):
    template_name = "registry/household_form.html"
    form_class = HouseholdForm

    def get_object(self):
        return get_object_or_404(selectors.households_for(self.request.user), pk=self.kwargs["pk"])

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["user"] = self.request.user
        return kwargs

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
        )
        return context


class MemberUpdateView(VersionedUpdateView):
    template_name = "registry/member_form.html"
    form_class = MemberForm

    def get_object(self):
        return get_object_or_404(selectors.members_for(self.request.user), pk=self.kwargs["pk"])

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
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
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


# --- roster import -------------------------------------------------------------------------


class RosterImportListView(RoleRequiredMixin, ListView):
    county_required = True
    template_name = "registry/roster_import_list.html"
    paginate_by = 20
    context_object_name = "jobs"

    def get_queryset(self):
        return RosterImport.objects.select_related("uploaded_by")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["form"] = RosterUploadForm()
        return context


class RosterUploadView(RoleRequiredMixin, FormView):
    county_required = True
    template_name = "registry/roster_import_list.html"
    form_class = RosterUploadForm

    def form_valid(self, form):
        job = services.roster_job_create(
            user=self.request.user,
            uploaded_file=form.cleaned_data["file"],
            create_areas=form.cleaned_data["create_areas"],
            skip_invalid=form.cleaned_data["skip_invalid"],
        )
        tasks.enqueue_roster_job(job.pk, confirm=False)
        return redirect("registry:roster_import_detail", pk=job.pk)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["jobs"] = RosterImport.objects.select_related("uploaded_by")[:20]
        return context


class RosterImportDetailView(RoleRequiredMixin, DetailView):
    county_required = True
    template_name = "registry/roster_import_detail.html"
    context_object_name = "job"
    queryset = RosterImport.objects.select_related("uploaded_by")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        job = self.object
        report = job.result or job.preview
        context.update(
            report=report,
            running=job.status in (RosterImport.Status.PREVIEWING, RosterImport.Status.IMPORTING),
            can_confirm=job.status == RosterImport.Status.PREVIEWED,
            has_rejected=bool(report and report.get("rejected_rows")),
        )
        return context


class RosterProgressView(RoleRequiredMixin, View):
    county_required = True

    def get(self, request, pk):
        job = get_object_or_404(RosterImport, pk=pk)
        done = job.status not in (RosterImport.Status.PREVIEWING, RosterImport.Status.IMPORTING)
        stage, percent = services.roster_job_progress(job=job)
        return JsonResponse(
            {"percent": 100 if done else percent, "stage": stage, "done": done, "redirect": None}
        )


class RosterConfirmView(RoleRequiredMixin, View):
    county_required = True

    def post(self, request, pk):
        job = get_object_or_404(RosterImport, pk=pk)
        try:
            services.roster_job_confirm(user=request.user, job=job)
        except services.RegistryError as exc:
            messages.error(request, exc.message)
        else:
            tasks.enqueue_roster_job(job.pk, confirm=True)
        return redirect("registry:roster_import_detail", pk=job.pk)


class RosterRejectedRowsView(RoleRequiredMixin, View):
    county_required = True

    def get(self, request, pk):
        job = get_object_or_404(RosterImport, pk=pk)
        if not (job.result or job.preview):
            raise Http404("该名册还没有预检结果。")
        stem = job.original_name.rsplit(".", 1)[0]
        return xlsx_response(services.rejected_rows_workbook(job=job), f"{stem}-未导入的行.xlsx")


class RosterTemplateView(RoleRequiredMixin, View):
    def get(self, request):
        return xlsx_response(services.roster_template_workbook(), "贫困人口花名册模板.xlsx")
