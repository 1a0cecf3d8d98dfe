"""Claims pages. Thin: scoping comes from selectors, rules from services."""

from urllib.parse import urlencode

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.views import View
from django.views.generic import FormView, TemplateView

from core import views as imports
from core.errors import DomainError
from core.forms import show_domain_error
from registry import pages, roles
from registry.idnumber import mask_id_number
from registry.pages import (
    ObjectMixin,
    RoleRequiredMixin,
    ScopedDetailView,
    ScopedListView,
    xlsx_response,
)
from registry.selectors import households_for

from . import filtersets, resources, selectors, services
from .forms import (
    ContractForm,
    ContractTerminateForm,
    DiseaseForm,
    EncounterForm,
    EncounterUploadForm,
    FollowUpForm,
    IllnessForm,
    InstitutionForm,
    InstitutionTokenForm,
    PackageForm,
    ScreeningVillageForm,
    SignVillageForm,
    TeamForm,
    TeamMemberForm,
)
from .models import Disease, Institution, Screening, ServicePackage


def _mask(rows, attr="member"):
    for row in rows:
        person = getattr(row, attr) if attr else row
        person.masked_id = mask_id_number(person.id_number)
    return rows


class ServiceFormView(pages.ServiceFormView):
    """registry.pages.ServiceFormView with claims' form template."""

    template_name = "claims/form.html"


# --- reference data -------------------------------------------------------------------------------


class ReferenceListView(ScopedListView):
    """Institutions, catalogue and packages: everybody reads, county staff edit."""


class InstitutionListView(ReferenceListView):
    template_name = "claims/institution_list.html"
    filterset_class = filtersets.InstitutionFilterSet
    resource_class = resources.InstitutionResource
    export_name = "医疗机构"
    selector = selectors.institutions
    ordering = ("level", "name")


class DiseaseListView(ReferenceListView):
    template_name = "claims/disease_list.html"
    filterset_class = filtersets.DiseaseFilterSet
    resource_class = resources.DiseaseResource
    export_name = "病种目录"
    paginate_by = 100
    selector = selectors.diseases
    ordering = ("group", "code")


class PackageListView(ReferenceListView):
    template_name = "claims/package_list.html"
    filterset_class = filtersets.PackageFilterSet
    resource_class = resources.PackageResource
    export_name = "服务包"
    selector = selectors.packages
    ordering = ("tier", "name")


class ReferenceFormView(ObjectMixin, ServiceFormView):
    county_required = True
    model = None
    list_url = None

    def queryset_for(self, user):
        return self.model.objects.all()

    def extra_form_kwargs(self):
        return {"instance": self.object}

    def save(self, form):
        values = {name: form.cleaned_data[name] for name in form.Meta.fields}
        return services.reference_save(
            user=self.request.user, model=self.model, values=values, instance=self.object
        )

    def get_success_url(self):
        return reverse(self.list_url)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        verbose = self.model._meta.verbose_name
        obj = self.object
        context.update(
            title=f"修改{verbose}：{obj}" if obj else f"新增{verbose}",
            object=obj,
            cancel_url=reverse(self.list_url),
            history=selectors.record_history(obj) if obj else None,
        )
        return context


class InstitutionFormView(ReferenceFormView):
    model, form_class, list_url = Institution, InstitutionForm, "claims:institution_list"


class DiseaseFormView(ReferenceFormView):
    model, form_class, list_url = Disease, DiseaseForm, "claims:disease_list"


class PackageFormView(ReferenceFormView):
    model, form_class, list_url = ServicePackage, PackageForm, "claims:package_list"


# --- member search (used by the encounter and illness forms) ----------------------------------


class MemberSearchView(RoleRequiredMixin, View):
    def get(self, request):
        found = selectors.member_search(request.user, request.GET.get("q", ""))
        return JsonResponse(
            {
                "results": [
                    {
                        "id": m.pk,
                        "label": f"{m.name} · 户{m.household.number} · {m.household.village.name} · "
                        f"{mask_id_number(m.id_number)}",
                    }
                    for m in found
                ]
            }
        )


# --- encounters -----------------------------------------------------------------------------------


class EncounterListView(ScopedListView):
    hospital_allowed = True  # its own institution's (selectors.encounters_for)
    template_name = "claims/encounter_list.html"
    filterset_class = filtersets.EncounterFilterSet
    resource_class = resources.EncounterResource
    export_name = "就诊记录"
    selector = selectors.encounters_for
    ordering = ("-service_date", "-id")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["rows"] = _mask(list(context["object_list"]))
        states = selectors.settlement_states(context["rows"])
        for row in context["rows"]:
            row.settlement_state = states[row.pk]
            row.settlement_badge = selectors.SettlementState.BADGES[states[row.pk]]
        return context


class EncounterDetailView(ScopedDetailView):
    hospital_allowed = True
    template_name = "claims/encounter_detail.html"
    context_object_name = "encounter"
    selector = selectors.encounters_for

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        encounter = self.object
        versions = selectors.encounter_versions(encounter)
        settled = selectors.mark_settled(versions)
        context.update(
            versions=versions,
            settled=encounter.pk in settled,
            masked_id=mask_id_number(encounter.member.id_number),
            diseases=selectors.match_diseases(encounter.diagnosis_code),
            history=selectors.record_history(encounter),
        )
        return context


class CatalogueMixin:
    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["catalogue"] = selectors.diseases().filter(active=True).order_by("code")
        context["member_search_url"] = reverse("claims:member_search")
        return context


def _encounter_refused(form, exc: services.ClaimsError) -> None:
    """疑似重复录入: show the confirmation box and its reason; a form token already used for
    another entry: a new token, so that saving again enters this one."""
    if exc.code == "duplicate" or exc.field == "duplicate_reason":
        form.show_duplicate_fields()
    elif exc.code == "key_reused":
        form.renew_token()


class EncounterCreateView(CatalogueMixin, ServiceFormView):
    form_class = EncounterForm
    template_name = "claims/encounter_form.html"
    title = "录入就诊记录"

    def extra_form_kwargs(self):
        return {"user": self.request.user}

    def get_initial(self):
        initial = super().get_initial()
        member_id = self.request.GET.get("member")
        if member_id and member_id.isdigit():
            member = selectors.members_for(self.request.user).filter(pk=member_id).first()
            if member:
                initial.update(
                    member=member.pk, member_query=f"{member.name} {mask_id_number(member.id_number)}"
                )
        return initial

    def save(self, form):
        self.encounter, warnings = services.encounter_create(
            user=self.request.user,
            idempotency_key=form.cleaned_data.get("form_token") or "",
            items=form.items(),
            **form.duplicate_args(),
            **form.changes(),
        )
        if getattr(self.encounter, "_replayed", False):
            self.success_message = "这张表单已经提交过，记录已保存，未重复录入。"
            return self.encounter, []
        return self.encounter, warnings

    def refused(self, form, exc):
        _encounter_refused(form, exc)
        form.show_item_error(exc)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["catalogue_api"] = reverse("catalogue-item-list")
        context["item_catalogue"] = selectors.catalogue_items().filter(active=True).order_by("code")[:500]
        return context

    def get_success_url(self):
        return reverse("claims:encounter_detail", args=[self.encounter.pk])


class EncounterEditView(ObjectMixin, CatalogueMixin, ServiceFormView):
    """Edit an encounter not yet settled; a settled one gets the correction form (a new
    version supersedes it)."""

    form_class = EncounterForm
    template_name = "claims/encounter_form.html"

    selector = selectors.encounters_for

    @cached_property
    def correcting(self):
        return selectors.is_settled(self.object)

    def get(self, request, *args, **kwargs):
        if not self.object.is_current:
            messages.error(request, "这是已被更正的旧版本，不能再修改。")
            return redirect("claims:encounter_detail", pk=self.object.pk)
        return super().get(request, *args, **kwargs)

    def extra_form_kwargs(self):
        return {"user": self.request.user, "instance": self.object, "correcting": self.correcting}

    def save(self, form):
        changes = form.changes()
        if self.correcting:
            self.result, warnings = services.encounter_correct(
                user=self.request.user,
                encounter=self.object,
                version=form.cleaned_data["version"],
                changes=changes,
                reason=form.cleaned_data["reason"],
                **form.duplicate_args(),
            )
            self.success_message = f"已更正：新记录 {self.result.ref} 取代 {self.object.ref}，将重新结算。"
        else:
            self.result, warnings = services.encounter_update(
                user=self.request.user,
                encounter=self.object,
                version=form.cleaned_data["version"],
                changes=changes,
                **form.duplicate_args(),
            )
        return self.result, warnings

    def refused(self, form, exc):
        _encounter_refused(form, exc)

    def get_success_url(self):
        return reverse("claims:encounter_detail", args=[self.result.pk])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            object=self.object,
            correcting=self.correcting,
            title=f"更正已结算的就诊记录 {self.object.ref}"
            if self.correcting
            else f"修改就诊记录 {self.object.ref}",
            cancel_url=reverse("claims:encounter_detail", args=[self.object.pk]),
        )
        return context


# --- illness records ------------------------------------------------------------------------------


class IllnessListView(ScopedListView):
    template_name = "claims/illness_list.html"
    filterset_class = filtersets.IllnessFilterSet
    resource_class = resources.IllnessResource
    export_name = "疾病救治档案"
    selector = selectors.illnesses_for
    ordering = ("-diagnosed_on", "-id")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["rows"] = _mask(list(context["object_list"]))
        return context


class IllnessDetailView(ScopedDetailView):
    template_name = "claims/illness_detail.html"
    context_object_name = "record"
    selector = selectors.illnesses_for

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        record = self.object
        figures, from_settlements = selectors.illness_figures(record)
        context.update(
            figures=figures,
            from_settlements=from_settlements,
            masked_id=mask_id_number(record.member.id_number),
            history=selectors.record_history(record),
            encounters=selectors.encounters_for(self.request.user)
            .filter(member=record.member, is_current=True)
            .order_by("-service_date")[:20],
        )
        return context


class IllnessCreateView(EncounterCreateView):
    form_class = IllnessForm
    template_name = "claims/illness_form.html"
    title = "新建疾病救治档案"

    def save(self, form):
        data = form.changes()
        self.record = services.illness_create(
            user=self.request.user, member=form.cleaned_data["member"], **data
        )
        return self.record

    def get_success_url(self):
        return reverse("claims:illness_detail", args=[self.record.pk])


class IllnessEditView(ObjectMixin, CatalogueMixin, ServiceFormView):
    form_class = IllnessForm
    template_name = "claims/illness_form.html"

    selector = selectors.illnesses_for

    def extra_form_kwargs(self):
        _, locked = selectors.illness_figures(self.object)
        return {"user": self.request.user, "instance": self.object, "figures_locked": locked}

    def save(self, form):
        return services.illness_update(
            user=self.request.user,
            record=self.object,
            version=form.cleaned_data["version"],
            changes=form.changes(),
        )

    def get_success_url(self):
        return reverse("claims:illness_detail", args=[self.object.pk])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            object=self.object,
            title=f"修改救治档案：{self.object}",
            cancel_url=reverse("claims:illness_detail", args=[self.object.pk]),
        )
        return context


# --- screening ------------------------------------------------------------------------------------


class ScreeningListView(ScopedListView):
    template_name = "claims/screening_list.html"
    filterset_class = filtersets.ScreeningFilterSet
    resource_class = resources.ScreeningResource
    export_name = "筛查登记"
    selector = selectors.screenings_for

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["rows"] = _mask(list(context["object_list"]))
        return context


class ScreeningVillageView(RoleRequiredMixin, TemplateView):
    """A village's members in one table: tick who was checked, note the findings, save once."""

    template_name = "claims/screening_village.html"

    def _form(self, data):
        return ScreeningVillageForm(data, user=self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        today = selectors.today()
        data = self.request.GET if "village" in self.request.GET else None
        form = (
            self._form(data)
            if data is not None
            else ScreeningVillageForm(
                user=self.request.user, initial={"year": today.year, "round": "checkup", "checked_on": today}
            )
        )
        context["form"] = form
        if data is not None and form.is_valid():
            village = form.cleaned_data["village"]
            members = list(
                selectors.members_for(self.request.user)
                .filter(household__village=village)
                .order_by("household__number", "id")
            )
            records = {
                s.member_id: s
                for s in Screening.objects.filter(
                    member__in=members, year=form.cleaned_data["year"], round=form.cleaned_data["round"]
                )
            }
            for member in _mask(members, attr=None):
                member.screening = records.get(member.pk)
            context.update(members=members, chosen=form.cleaned_data)
        return context

    def post(self, request):
        roles.require_write(request.user)
        form = self._form(request.POST)
        if not form.is_valid():
            messages.error(request, "请先选择行政村、年度、轮次和筛查日期。")
            return redirect("claims:screening_village")
        ids = [int(pk) for pk in request.POST.getlist("member") if pk.isdigit()]
        checked = set(request.POST.getlist("checked"))
        entries = [
            services.ScreeningEntry(
                member_id=pk, checked=str(pk) in checked, findings=request.POST.get(f"findings_{pk}", "")
            )
            for pk in ids
        ]
        try:
            counts = services.screening_record_village(
                user=request.user, entries=entries, **form.cleaned_data
            )
        except services.ClaimsError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                f"已保存：新登记 {counts['created']} 人，修改 {counts['updated']} 人，"
                f"未变 {counts['unchanged']} 人。",
            )
        chosen = form.cleaned_data
        query = urlencode(
            {
                "village": chosen["village"].pk,
                "year": chosen["year"],
                "round": chosen["round"],
                "checked_on": chosen["checked_on"].isoformat(),
            }
        )
        return redirect(f"{reverse('claims:screening_village')}?{query}")


# --- teams and packages --------------------------------------------------------------------------


class TeamListView(ScopedListView):
    template_name = "claims/team_list.html"
    filterset_class = filtersets.TeamFilterSet
    resource_class = resources.TeamResource
    export_name = "家庭医生团队"
    selector = selectors.teams_for
    ordering = ("township__name", "name")


class TeamDetailView(ScopedDetailView):
    template_name = "claims/team_detail.html"
    context_object_name = "team"
    selector = selectors.teams_for

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            members=self.object.members.order_by("-active", "role", "name"),
            member_form=TeamMemberForm(),
            active_contracts=self.object.contracts.in_force().count(),
            history=selectors.record_history(self.object),
        )
        return context


class TeamFormView(ObjectMixin, ServiceFormView):
    form_class = TeamForm

    selector = selectors.teams_for

    def extra_form_kwargs(self):
        return {"user": self.request.user, "instance": self.object}

    def save(self, form):
        data = {name: form.cleaned_data[name] for name in form.Meta.fields}
        if self.object:
            self.team = services.team_update(user=self.request.user, team=self.object, changes=data)
        else:
            self.team = services.team_create(user=self.request.user, **data)
        return self.team

    def get_success_url(self):
        return reverse("claims:team_detail", args=[self.team.pk])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        obj = self.object
        context.update(
            title=f"修改团队：{obj}" if obj else "新建家庭医生团队", cancel_url=reverse("claims:team_list")
        )
        return context


class TeamMemberAddView(ObjectMixin, ServiceFormView):
    form_class = TeamMemberForm
    title = "添加团队成员"

    selector = selectors.teams_for

    def save(self, form):
        return services.team_member_add(user=self.request.user, team=self.object, **form.cleaned_data)

    def get_success_url(self):
        return reverse("claims:team_detail", args=[self.object.pk])


class TeamMemberToggleView(RoleRequiredMixin, View):
    write_required = True

    def post(self, request, pk):
        member = get_object_or_404(selectors.team_members_for(request.user), pk=pk)
        try:
            services.team_member_update(
                user=request.user, member=member, changes={"active": not member.active}
            )
        except services.ClaimsError as exc:
            messages.error(request, exc.message)
        return redirect("claims:team_detail", pk=member.team_id)


# --- contracts ------------------------------------------------------------------------------------


class ContractListView(ScopedListView):
    template_name = "claims/contract_list.html"
    filterset_class = filtersets.ContractFilterSet
    resource_class = resources.ContractResource
    export_name = "家庭医生签约"
    selector = selectors.contracts_for
    ordering = ("-start_date", "-id")


class ContractNoFollowUpView(ContractListView):
    """签而不约: contracts in force without any follow-up in their first 90 days."""

    template_name = "claims/contract_nofollowup.html"
    export_name = "签而不约名单"
    selector = selectors.contracts_without_followup
    ordering = None


class ContractDetailView(ScopedDetailView):
    """Also the printed contract (签约服务协议书) the household keeps."""

    template_name = "claims/contract_detail.html"
    context_object_name = "contract"
    selector = selectors.contracts_for

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        contract = self.object
        context.update(
            members=_mask(list(contract.members.order_by("id")), attr=None),
            team_members=contract.team.members.filter(active=True),
            followups=contract.followups.select_related("member", "doctor").order_by("-date"),
            terminate_form=ContractTerminateForm(initial={"version": contract.version}),
            history=selectors.record_history(contract),
        )
        return context


class ContractSignLookupView(RoleRequiredMixin, View):
    """From what is typed on the contract list (the head's name, an ID number or the 户编号;
    the page's suggestions carry the household id) to that household's signing form."""

    write_required = True

    def get(self, request):
        query = request.GET.get("number", "").strip()
        found = list(selectors.household_search(request.user, query, limit=6)) if query else []
        exact = [h for h in found if h.number == query]
        found = exact or found
        if len(found) == 1:
            return redirect("claims:contract_create", household=found[0].pk)
        if not found:
            messages.error(request, f"本乡镇在册户中找不到「{query}」（可输入户主姓名、证件号码或户编号）。")
        else:
            names = "；".join(f"户{h.number}（户主{h.head_name or '无'}）" for h in found[:5])
            messages.error(request, f"找到多户：{names}。请从下拉建议中选择，或输入完整的户编号。")
        return redirect("claims:contract_list")


class HouseholdSearchView(RoleRequiredMixin, View):
    """Suggestions for the signing box: ``{"results": [{"id", "label", "url"}]}``."""

    def get(self, request):
        found = selectors.household_search(request.user, request.GET.get("q", ""))
        return JsonResponse(
            {
                "results": [
                    {
                        "id": h.pk,
                        "label": f"户{h.number} · 户主 {h.head_name or '—'} · {h.village.name} · {h.member_count}人",
                        "url": reverse("claims:contract_create", args=[h.pk]),
                    }
                    for h in found
                ]
            }
        )


class ContractCreateView(ServiceFormView):
    form_class = ContractForm

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.household = get_object_or_404(households_for(request.user), pk=kwargs["household"])
        return super().dispatch(request, *args, **kwargs)

    def extra_form_kwargs(self):
        return {"user": self.request.user, "household": self.household}

    def get_initial(self):
        return {"start_date": selectors.today()}

    def save(self, form):
        data = form.changes()
        self.contract = services.contract_sign(
            user=self.request.user,
            household=self.household,
            members=form.cleaned_data["members"] or None,
            **data,
        )
        return self.contract

    def get_success_url(self):
        return reverse("claims:contract_detail", args=[self.contract.pk])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            title=f"签约：户 {self.household.number}（{self.household.head_name or '无户主'}）",
            cancel_url=reverse("registry:household_detail", args=[self.household.pk]),
        )
        return context


class ContractEditView(ObjectMixin, ServiceFormView):
    form_class = ContractForm

    selector = selectors.contracts_for

    def extra_form_kwargs(self):
        return {"user": self.request.user, "instance": self.object}

    def save(self, form):
        return services.contract_update(
            user=self.request.user,
            contract=self.object,
            version=form.cleaned_data["version"],
            changes=form.changes(),
            members=form.cleaned_data["members"],
        )

    def get_success_url(self):
        return reverse("claims:contract_detail", args=[self.object.pk])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            title=f"修改签约：户 {self.object.household.number}",
            cancel_url=reverse("claims:contract_detail", args=[self.object.pk]),
        )
        return context


class ContractTerminateView(ObjectMixin, RoleRequiredMixin, View):
    write_required = True

    selector = selectors.contracts_for

    def post(self, request, pk):
        form = ContractTerminateForm(request.POST)
        if not form.is_valid():
            messages.error(request, "请填写解约原因。")
        else:
            try:
                services.contract_terminate(user=request.user, contract=self.object, **form.cleaned_data)
            except services.ClaimsError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, "已解约。")
        return redirect("claims:contract_detail", pk=pk)


class SignVillageView(RoleRequiredMixin, FormView):
    """整村签约: choose a village, a team and a package; preview the unsigned households; confirm."""

    write_required = True
    template_name = "claims/sign_village.html"
    form_class = SignVillageForm

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["user"] = self.request.user
        return kwargs

    def get_initial(self):
        return {"start_date": selectors.today()}

    def form_valid(self, form):
        confirm = "confirm" in self.request.POST
        try:
            report = services.contract_sign_village(
                user=self.request.user, dry_run=not confirm, **form.cleaned_data
            )
        except services.ClaimsError as exc:
            show_domain_error(form, exc)
            return self.form_invalid(form)
        if not confirm:
            return self.render_to_response(self.get_context_data(form=form, preview=report))
        messages.success(self.request, f"已签约 {report.contracts_created} 户、{report.members_signed} 人。")
        return redirect(f"{reverse('claims:contract_list')}?village={form.cleaned_data['village'].pk}")


# --- follow-ups -----------------------------------------------------------------------------------


class FollowUpListView(ScopedListView):
    template_name = "claims/followup_list.html"
    filterset_class = filtersets.FollowUpFilterSet
    resource_class = resources.FollowUpResource
    export_name = "随访记录"
    selector = selectors.followups_for


class FollowUpDueView(ScopedListView):
    template_name = "claims/followup_due.html"
    filterset_class = filtersets.DueFollowUpFilterSet
    resource_class = resources.DueFollowUpResource
    export_name = "应随访人员"
    selector = selectors.members_due_followup

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["rows"] = _mask(list(context["object_list"]), attr=None)
        context["interval"] = selectors.codes.FOLLOWUP_INTERVAL_DAYS
        return context


class FollowUpFormView(ServiceFormView):
    form_class = FollowUpForm
    template_name = "claims/form.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            if "pk" in kwargs:
                self.followup = get_object_or_404(selectors.followups_for(request.user), pk=kwargs["pk"])
                self.contract = self.followup.contract
            else:
                self.followup = None
                self.contract = get_object_or_404(
                    selectors.contracts_for(request.user), pk=kwargs["contract"]
                )
        return super().dispatch(request, *args, **kwargs)

    def extra_form_kwargs(self):
        return {"contract": self.contract, "instance": self.followup}

    def get_initial(self):
        initial = {"date": selectors.today(), "kind": "home_visit"}
        member = self.request.GET.get("member")
        if member and member.isdigit():
            initial["member"] = int(member)
        return initial

    def save(self, form):
        if self.followup is not None:
            return services.followup_update(
                user=self.request.user, followup=self.followup, changes=form.changes()
            )
        return services.followup_create(user=self.request.user, contract=self.contract, **form.changes())

    def get_success_url(self):
        return reverse("claims:contract_detail", args=[self.contract.pk])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            title=("修改随访" if self.followup else "登记随访") + f"：户 {self.contract.household.number}",
            cancel_url=reverse("claims:contract_detail", args=[self.contract.pk]),
        )
        return context


# --- encounter import -----------------------------------------------------------------------------


class EncounterImportMixin(RoleRequiredMixin):
    county_required = True
    import_kind = "encounters"
    title = "就诊导入"
    unit_label = "行"
    summary_template = "claims/_encounter_import_summary.html"
    intro_template = "claims/_encounter_import_intro.html"
    form_class = EncounterUploadForm
    url_names = imports.import_url_names("claims:import")
    create_service = staticmethod(services.encounter_job_create)
    confirm_service = staticmethod(services.encounter_job_confirm)


class EncounterImportListView(EncounterImportMixin, imports.ImportListView):
    pass


class EncounterUploadView(EncounterImportMixin, imports.ImportUploadView):
    pass


class EncounterImportDetailView(EncounterImportMixin, imports.ImportDetailView):
    pass


class EncounterImportProgressView(EncounterImportMixin, imports.ImportProgressView):
    pass


class EncounterImportConfirmView(EncounterImportMixin, imports.ImportConfirmView):
    pass


class EncounterImportRejectedView(EncounterImportMixin, imports.ImportRejectedView):
    pass


class EncounterTemplateView(RoleRequiredMixin, View):
    def get(self, request):
        return xlsx_response(services.encounter_template_workbook(), "就诊清单导入模板.xlsx")


# --- API tokens of 定点医疗机构 (county staff) -------------------------------------------------------


class InstitutionTokenListView(RoleRequiredMixin, FormView):
    """Every institution's API tokens, live and revoked, and the form for a new one; the new
    key is shown on the answer to the POST, once (only its digest is stored)."""

    county_required = True
    template_name = "claims/token_list.html"
    form_class = InstitutionTokenForm

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["tokens"] = selectors.institution_tokens()
        return context

    def form_valid(self, form):
        try:
            token, key = services.institution_token_create(user=self.request.user, **form.cleaned_data)
        except DomainError as exc:
            show_domain_error(form, exc)
            return self.form_invalid(form)
        return self.render_to_response(
            self.get_context_data(form=self.form_class(), new_token=token, new_key=key)
        )


class InstitutionTokenRevokeView(RoleRequiredMixin, View):
    county_required = True

    def post(self, request, pk):
        token = get_object_or_404(selectors.institution_tokens(), pk=pk)
        services.institution_token_revoke(user=request.user, token=token)
        messages.success(
            request, f"已吊销{token.institution}的接口令牌 {token.prefix}…，此后使用它的请求一律拒绝。"
        )
        return redirect("claims:token_list")
