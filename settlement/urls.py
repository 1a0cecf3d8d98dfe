from django.urls import path

from . import views

app_name = "settlement"

urlpatterns = [
    path("", views.SettlementListView.as_view(), name="settlement_list"),
    path("<int:pk>/statement/", views.StatementView.as_view(), name="statement"),
    path(
        "encounters/<int:pk>/status/",
        views.EncounterSettlementStatusView.as_view(),
        name="encounter_status",
    ),
    path("problems/", views.ProblemListView.as_view(), name="problem_list"),
    path("policies/", views.PolicyListView.as_view(), name="policy_list"),
    path("policies/import/", views.PolicyImportView.as_view(), name="policy_import"),
    path("policies/<int:pk>/", views.PolicyDetailView.as_view(), name="policy_detail"),
    path("policies/<int:pk>/edit/", views.PolicyEditView.as_view(), name="policy_edit"),
    path("policies/<int:pk>/activate/", views.PolicyActivateView.as_view(), name="policy_activate"),
    path("policies/<int:pk>/export/", views.PolicyExportView.as_view(), name="policy_export"),
    path("ledger/", views.LedgerView.as_view(), name="ledger"),
    path("runs/", views.RunListView.as_view(), name="run_list"),
    path("runs/start/", views.RunStartView.as_view(), name="run_start"),
    path("runs/<int:pk>/", views.RunDetailView.as_view(), name="run_detail"),
    path("runs/<int:pk>/progress/", views.RunProgressView.as_view(), name="run_progress"),
    path("simulate/", views.SimulationView.as_view(), name="simulate"),
]
