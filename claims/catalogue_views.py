"""Pages of the medical-insurance catalogue (医保目录): the list every role that enters or
reads encounters opens (hospitals included), and the county's Excel import (shared import-job
pages, ``core.views``)."""

from django.views import View

from core import views as imports
from registry.pages import RoleRequiredMixin, ScopedListView, xlsx_response

from . import catalogue, filtersets, resources, selectors
from .forms import CatalogueUploadForm


class CatalogueListView(ScopedListView):
    template_name = "claims/catalogue_list.html"
    filterset_class = filtersets.CatalogueItemFilterSet
    resource_class = resources.CatalogueItemResource
    export_name = "医保目录"
    paginate_by = 100
    selector = selectors.catalogue_items
    ordering = ("code",)
    hospital_allowed = True  # reference data: the hospital picks and checks its codes too


class CatalogueImportMixin(RoleRequiredMixin):
    county_required = True
    import_kind = "catalogue"
    title = "医保目录导入"
    summary_template = "claims/_catalogue_import_summary.html"
    intro_template = "claims/_catalogue_import_intro.html"
    form_class = CatalogueUploadForm
    url_names = imports.import_url_names("claims:catalogue_import")
    create_service = staticmethod(catalogue.catalogue_job_create)
    confirm_service = staticmethod(catalogue.catalogue_job_confirm)


class CatalogueImportListView(CatalogueImportMixin, imports.ImportListView):
    pass


class CatalogueUploadView(CatalogueImportMixin, imports.ImportUploadView):
    pass


class CatalogueImportDetailView(CatalogueImportMixin, imports.ImportDetailView):
    pass


class CatalogueImportProgressView(CatalogueImportMixin, imports.ImportProgressView):
    pass


class CatalogueImportConfirmView(CatalogueImportMixin, imports.ImportConfirmView):
    pass


class CatalogueImportRejectedView(CatalogueImportMixin, imports.ImportRejectedView):
    pass


class CatalogueTemplateView(RoleRequiredMixin, View):
    county_required = True

    def get(self, request):
        return xlsx_response(catalogue.catalogue_template_workbook(), "医保目录模板.xlsx")
