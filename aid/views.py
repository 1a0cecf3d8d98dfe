"""Aid application pages (Chinese, server-rendered): list with filters and export, 受理 form
(本人/代办), detail with its steps, invoices and documents, the step buttons, the printable
审批表, and the role-checked document view. Scoping comes from ``selectors.applications_for``
(another township's case is a 404); the rules are the services'."""

from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views import View

from claims import selectors as claims_selectors
from core.errors import DomainError
from registry import roles
from registry.idnumber import mask_id_number
from registry.pages import ObjectMixin, RoleRequiredMixin, ScopedDetailView, ScopedListView, ServiceFormView

from . import filtersets, forms, resources, selectors, services
from .models import AidDocument, AidKind, AidStatus


def _decorate(application):
    application.overdue = selectors.is_overdue(application)
    application.masked_id = mask_id_number(application.member.id_number)
    return application


class ApplicationListView(ScopedListView):
    template_name = "aid/application_list.html"
    filterset_class = filtersets.AidApplicationFilterSet
    resource_class = resources.ApplicationResource
    export_name = "救助申请"
    selector = selectors.applications_for
    ordering = ("-received_on", "-id")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["rows"] = [_decorate(a) for a in context["object_list"]]
        context["deadline_days"] = selectors.deadline_days()
        return context


class ApplicationCreateView(ServiceFormView):
    """受理. Without ``?member=`` the page finds the applicant first (a search among the
    user's own township's people); with it, the application form for that person."""

    form_class = forms.ApplicationForm
    template_name = "aid/application_form.html"
    title = "受理救助申请"
    success_message = "已受理。"

    def dispatch(self, request, *args, **kwargs):
        self.member = None
        member_id = request.GET.get("member", "")
        if request.user.is_authenticated and member_id.isdigit() and len(member_id) < 19:
            self.member = get_object_or_404(claims_selectors.members_for(request.user), pk=member_id)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        if self.member is None:
            query = request.GET.get("q", "").strip()
            found = [_masked(m) for m in claims_selectors.member_search(request.user, query, limit=20)]
            return self.render_to_response(
                {"title": self.title, "query": query, "found": found, "searching": True}
            )
        return super().get(request, *args, **kwargs)

    def post(self, request, *args, **kwargs):
        if self.member is None:
            raise Http404("请先选择申请人。")
        return super().post(request, *args, **kwargs)

    def extra_form_kwargs(self):
        return {"member": self.member}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(member=_masked(self.member), deadline_days=selectors.deadline_days())
        return context

    def save(self, form):
        data = form.cleaned_data
        self.application = services.aid_application_submit(
            user=self.request.user,
            member=self.member,
            kind=data["kind"],
            reason=data["reason"],
            encounters=list(data["encounters"]),
            applicant=data["applicant"],
            proxy_name=data["proxy_name"],
            proxy_phone=data["proxy_phone"],
            idempotency_key=data.get("form_token") or "",
        )
        if getattr(self.application, "_replayed", False):
            self.success_message = "这张表单已经提交过，申请已受理，未重复录入。"
        return self.application

    def refused(self, form, exc):
        if exc.code == "key_reused":
            form.renew_token()

    def get_success_url(self):
        return reverse("aid:application_detail", args=[self.application.pk])


def _masked(member):
    if member is not None:
        member.masked_id = mask_id_number(member.id_number)
    return member


class ApplicationDetailView(ScopedDetailView):
    template_name = "aid/application_detail.html"
    context_object_name = "application"
    selector = selectors.application_detail_for

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        application = _decorate(self.object)
        version = {"version": application.version}
        context.update(
            used_days=selectors.working_days_used(application),
            deadline_days=selectors.deadline_days(),
            review_form=forms.NoteForm(initial=version, prefix="review"),
            approve_form=forms.ApproveForm(initial=version, prefix="approve"),
            return_form=forms.ReasonForm(initial=version, prefix="return"),
            refuse_form=forms.ReasonForm(initial=version, prefix="refuse"),
            resubmit_form=forms.NoteForm(initial=version, prefix="resubmit"),
            invoice_form=forms.InvoiceForm(prefix="invoice"),
            document_form=forms.DocumentForm(prefix="document"),
            is_scattered=application.kind == AidKind.SCATTERED,
            S=AidStatus,
            proposal=_proposal(application)
            if application.status == AidStatus.TOWNSHIP_REVIEWED and roles.is_county(self.request.user)
            else None,
        )
        return context


def _proposal(application):
    """What the county would approve: the rule's amount, or why it cannot be computed yet."""
    try:
        return {"calculation": services.calculate(application)}
    except DomainError as exc:
        return {"error": exc.message}


class StepView(ObjectMixin, RoleRequiredMixin, View):
    """A step button of the detail page: the form's cleaned fields go to ``service`` (with the
    user and the application); a refusal is shown as a message."""

    write_required = True
    selector = selectors.applications_for
    form_class = None
    prefix = ""
    service = None
    done = ""

    def post(self, request, *args, **kwargs):
        form = self.form_class(request.POST, request.FILES, prefix=self.prefix)
        if not form.is_valid():
            for field, errors in form.errors.items():
                label = form.fields[field].label if field in form.fields and form.fields[field].label else ""
                messages.error(request, f"{label}：{'；'.join(errors)}" if label else "；".join(errors))
        else:
            try:
                type(self).service(user=request.user, application=self.object, **form.cleaned_data)
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, self.done)
        return HttpResponseRedirect(reverse("aid:application_detail", args=[self.object.pk]))


def step_view(form_class, prefix, service, done, *, county=False):
    return type(
        f"{prefix.title()}View",
        (StepView,),
        {
            "form_class": form_class,
            "prefix": prefix,
            "service": service,
            "done": done,
            "county_required": county,
        },
    )


ReviewView = step_view(
    forms.NoteForm, "review", services.aid_application_township_review, "乡镇审核已完成，已报县级审批。"
)
ApproveView = step_view(
    forms.ApproveForm,
    "approve",
    services.aid_application_county_approve,
    "县级审批已完成，等待给付。",
    county=True,
)
ReturnView = step_view(forms.ReasonForm, "return", services.aid_application_return, "已退回申请人。")
RefuseView = step_view(
    forms.ReasonForm, "refuse", services.aid_application_refuse, "已作出不予救助决定。", county=True
)
ResubmitView = step_view(
    forms.NoteForm, "resubmit", services.aid_application_resubmit, "已重新受理，办理时限重新计算。"
)
InvoiceAddView = step_view(forms.InvoiceForm, "invoice", services.aid_invoice_add, "发票已录入。")
DocumentAddView = step_view(forms.DocumentForm, "document", services.aid_document_add, "材料已上传。")


class StatementView(ScopedDetailView):
    """审批表: the printable record of an application (A4), with the rule and its arithmetic."""

    template_name = "aid/statement.html"
    context_object_name = "application"
    selector = selectors.application_detail_for

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        application = _decorate(self.object)
        context.update(
            used_days=selectors.working_days_used(application),
            deadline_days=selectors.deadline_days(),
        )
        return context


class DocumentView(RoleRequiredMixin, View):
    """A document, shown inline, to whoever may read its application (404 otherwise). The
    type is the one sniffed on upload; the browser is told not to guess another."""

    def get(self, request, pk):
        document = get_object_or_404(
            AidDocument.objects.filter(application__in=selectors.applications_for(request.user)), pk=pk
        )
        response = FileResponse(document.file.open("rb"), content_type=document.content_type)
        response["Content-Disposition"] = "inline"
        response["X-Content-Type-Options"] = "nosniff"
        response["Cache-Control"] = "private, no-store"
        return response
