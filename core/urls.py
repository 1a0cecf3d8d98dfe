from django.urls import path

from . import views

app_name = "core"

urlpatterns = [
    path("", views.ExportJobListView.as_view(), name="export_job_list"),
    path("<int:pk>/", views.ExportJobDetailView.as_view(), name="export_job"),
    path("<int:pk>/progress/", views.ExportJobProgressView.as_view(), name="export_job_progress"),
    path("<int:pk>/file/", views.ExportJobFileView.as_view(), name="export_job_file"),
]
