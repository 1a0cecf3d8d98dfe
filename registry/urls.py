from django.urls import path

from . import fact_views, views

app_name = "registry"

urlpatterns = [
    path("households/", views.HouseholdListView.as_view(), name="household_list"),
    path("households/<int:pk>/", views.HouseholdDetailView.as_view(), name="household_detail"),
    path("households/<int:pk>/edit/", views.HouseholdUpdateView.as_view(), name="household_edit"),
    path("households/<int:pk>/members/new/", views.MemberCreateView.as_view(), name="member_create"),
    path("members/", views.MemberListView.as_view(), name="member_list"),
    path("members/<int:pk>/", views.MemberDetailView.as_view(), name="member_detail"),
    path("members/<int:pk>/edit/", views.MemberUpdateView.as_view(), name="member_edit"),
    path("households/<int:pk>/status/new/", fact_views.StatusChangeView.as_view(), name="status_change"),
    path("members/<int:pk>/aid/new/", fact_views.AidChangeView.as_view(), name="aid_change"),
    path("members/<int:pk>/enrollment/new/", fact_views.EnrollmentView.as_view(), name="enrollment_record"),
    path("members/<int:pk>/exit/", fact_views.ExitView.as_view(), name="member_exit"),
    path("areas/", views.AreaListView.as_view(), name="area_list"),
    path("enrollment/", views.EnrollmentFiguresView.as_view(), name="enrollment_figures"),
    path("enrollment-imports/", views.EnrollmentImportListView.as_view(), name="enrollment_import_list"),
    path("enrollment-imports/upload/", views.EnrollmentUploadView.as_view(), name="enrollment_import_upload"),
    path(
        "enrollment-imports/template.xlsx",
        views.EnrollmentTemplateView.as_view(),
        name="enrollment_import_template",
    ),
    path(
        "enrollment-imports/<int:pk>/",
        views.EnrollmentImportDetailView.as_view(),
        name="enrollment_import_detail",
    ),
    path(
        "enrollment-imports/<int:pk>/progress/",
        views.EnrollmentProgressView.as_view(),
        name="enrollment_import_progress",
    ),
    path(
        "enrollment-imports/<int:pk>/confirm/",
        views.EnrollmentConfirmView.as_view(),
        name="enrollment_import_confirm",
    ),
    path(
        "enrollment-imports/<int:pk>/rejected.xlsx",
        views.EnrollmentRejectedRowsView.as_view(),
        name="enrollment_import_rejected",
    ),
    path("imports/", views.RosterImportListView.as_view(), name="roster_import_list"),
    path("imports/upload/", views.RosterUploadView.as_view(), name="roster_upload"),
    path("imports/template.xlsx", views.RosterTemplateView.as_view(), name="roster_template"),
    path("imports/<int:pk>/", views.RosterImportDetailView.as_view(), name="roster_import_detail"),
    path("imports/<int:pk>/progress/", views.RosterProgressView.as_view(), name="roster_import_progress"),
    path("imports/<int:pk>/confirm/", views.RosterConfirmView.as_view(), name="roster_import_confirm"),
    path(
        "imports/<int:pk>/rejected.xlsx",
        views.RosterRejectedRowsView.as_view(),
        name="roster_import_rejected",
    ),
]
