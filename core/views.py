"""The pages of an import job, shared by every kind (``core.imports``): list + upload, detail
with a progress bar, progress (JSON), confirm, download of the rejected rows.

An app subclasses each view with its role mixin and sets ``import_kind`` and ``url_names``;
the services that check roles and record the work (``create_job``, ``confirm_job``) are the
app's. Templates: ``core/import_list.html`` and ``core/import_detail.html``, which include
the kind's ``summary_template`` (its figures) and ``intro_template`` (its instructions)."""

from __future__ import annotations

import datetime

from django.contrib import messages
from django.http import FileResponse, Http404, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views import View
from django.views.generic import DetailView, FormView, ListView

from .export import XLSX, content_disposition
from .exportjobs import jobs_of
from .imports import import_job_progress, import_kind

URL_KEYS = ("list", "upload", "template", "detail", "progress", "confirm", "rejected")


class ImportJobMixin:
    import_kind: str = ""
    url_names: dict[str, str] = {}  # URL_KEYS -> "app:name"
    title = ""
    unit_label = "行"  # what skip-invalid skips
    summary_template = ""
    intro_template = ""
    form_class = None

    @property
    def model(self):
        return import_kind(self.import_kind).model

    def get_queryset(self):
        return self.model.objects.select_related("uploaded_by")

    def urls(self, job=None) -> dict[str, str]:
        urls = {}
        for key in URL_KEYS:
            name = self.url_names.get(key)
            if not name:
                continue
            if key in ("list", "upload", "template"):
                urls[key] = reverse(name)
            elif job is not None:
                urls[key] = reverse(name, args=[job.pk])
        return urls

    def job_context(self, **extra):
        return {
            "title": self.title,
            "unit_label": self.unit_label,
            "summary_template": self.summary_template,
            "intro_template": self.intro_template,
            "detail_url_name": self.url_names.get("detail"),
            **extra,
        }

    # The app's services (they check roles): create(user=, uploaded_file=, **form options)
    # and confirm(user=, job=); staticmethod() them on the view.
    create_service = None
    confirm_service = None

    def create_job(self, form):
        options = {name: value for name, value in form.cleaned_data.items() if name != "file"}
        return self.create_service(user=self.request.user, uploaded_file=form.cleaned_data["file"], **options)

    def confirm_job(self, job):
        return self.confirm_service(user=self.request.user, job=job)


def import_url_names(prefix: str, **overrides) -> dict[str, str]:
    """``{"list": f"{prefix}_list", …}`` for the URL_KEYS, but for the ``overrides``."""
    return {key: overrides.get(key, f"{prefix}_{key}") for key in URL_KEYS}


class ImportListView(ImportJobMixin, ListView):
    template_name = "core/import_list.html"
    paginate_by = 20
    context_object_name = "jobs"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(self.job_context(form=self.form_class(), urls=self.urls()))
        return context


class ImportUploadView(ImportJobMixin, FormView):
    template_name = "core/import_list.html"

    def form_valid(self, form):
        try:
            job = self.create_job(form)
        except Exception as exc:  # the app's domain error: a refused file, with its message
            message = getattr(exc, "message", None)
            if message is None:
                raise
            form.add_error("file", message)
            return self.form_invalid(form)
        return redirect(self.url_names["detail"], pk=job.pk)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(self.job_context(jobs=self.get_queryset()[:20], urls=self.urls()))
        return context


class ImportDetailView(ImportJobMixin, DetailView):
    template_name = "core/import_detail.html"
    context_object_name = "job"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        job = self.object
        report = job.report
        context.update(
            self.job_context(
                report=report,
                running=job.running,
                can_confirm=job.status == job.Status.PREVIEWED,
                has_rejected=bool(job.rejected_file),
                whole_file=bool(report and report.get("rejected_file_whole")),
                urls=self.urls(job),
            )
        )
        return context


class ImportProgressView(ImportJobMixin, View):
    def get(self, request, pk):
        job = get_object_or_404(self.get_queryset(), pk=pk)
        stage, percent = import_job_progress(job=job)
        done = not job.running
        return JsonResponse(
            {"percent": 100 if done else percent, "stage": stage, "done": done, "redirect": None}
        )


class ImportConfirmView(ImportJobMixin, View):
    def post(self, request, pk):
        job = get_object_or_404(self.get_queryset(), pk=pk)
        try:
            self.confirm_job(job)
        except Exception as exc:
            message = getattr(exc, "message", None)
            if message is None:
                raise
            messages.error(request, message)
        return redirect(self.url_names["detail"], pk=job.pk)


class ImportRejectedView(ImportJobMixin, View):
    """The file of rejected rows, written once when the job ran (never re-parsed here)."""

    def get(self, request, pk):
        job = get_object_or_404(self.get_queryset(), pk=pk)
        if not job.rejected_file:
            raise Http404("该文件没有错误行。")
        stem = job.original_name.rsplit(".", 1)[0]
        whole = bool(job.report and job.report.get("rejected_file_whole"))
        name = f"{stem}-{'错误标注（全部行）' if whole else '未导入的行'}.xlsx"
        response = FileResponse(job.rejected_file.open("rb"), content_type=XLSX)
        response["Content-Disposition"] = content_disposition(name)
        return response


# --- export jobs (core.exportjobs): only their owner sees them ---------------------------------


class ExportJobMixin:
    def get_job(self, pk):
        return get_object_or_404(jobs_of(self.request.user), pk=pk)


class ExportJobListView(View):
    """「我的导出」: the user's own export jobs of the last 30 days."""

    def get(self, request):
        since = timezone.now() - datetime.timedelta(days=30)
        jobs = jobs_of(request.user).filter(created_at__gte=since)[:100]
        return render(request, "core/export_job_list.html", {"jobs": jobs})


class ExportJobDetailView(ExportJobMixin, View):
    def get(self, request, pk):
        job = self.get_job(pk)
        return render(
            request,
            "core/export_job.html",
            {
                "job": job,
                "progress_url": reverse("core:export_job_progress", args=[job.pk]),
                "file_url": reverse("core:export_job_file", args=[job.pk]) if job.file else "",
                "back_url": _list_url(job),
            },
        )


def _list_url(job) -> str:
    try:
        path = reverse(job.view_name, kwargs=job.view_kwargs or None)
    except NoReverseMatch:
        return ""
    query = QueryDict(mutable=True)
    for name, values in job.params.items():
        query.setlist(name, values)
    return f"{path}?{query.urlencode()}" if query else path


class ExportJobProgressView(ExportJobMixin, View):
    def get(self, request, pk):
        job = self.get_job(pk)
        stage = job.get_status_display()
        if job.status == job.Status.RUNNING and job.total:
            stage = f"正在导出：{job.done:,} / {job.total:,} 行"
        return JsonResponse(
            {
                "percent": job.percent,
                "stage": stage,
                "done": not job.running,
                "redirect": None,
                **({"error": job.error} if job.status == job.Status.FAILED else {}),
            }
        )


class ExportJobFileView(ExportJobMixin, View):
    def get(self, request, pk):
        job = self.get_job(pk)
        if job.status != job.Status.DONE or not job.file:
            raise Http404("文件尚未生成。")
        name = f"{job.title}-{timezone.localtime(job.created_at):%Y%m%d-%H%M}.xlsx"
        response = FileResponse(job.file.open("rb"), content_type=XLSX)
        response["Content-Disposition"] = content_disposition(name)
        return response
