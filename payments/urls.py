from django.urls import path

from . import views

app_name = "payments"

urlpatterns = [
    path("funds/", views.FundListView.as_view(), name="fund_list"),
    path("funds/new/", views.FundCreateView.as_view(), name="fund_create"),
    path("funds/sync/", views.FundSyncView.as_view(), name="fund_sync"),
    path("funds/<int:pk>/", views.FundDetailView.as_view(), name="fund_detail"),
    path("funds/<int:pk>/income/", views.IncomeCreateView.as_view(), name="income_create"),
    path("batches/", views.BatchListView.as_view(), name="batch_list"),
    path("batches/new/", views.BatchDraftView.as_view(), name="batch_draft"),
    path("batches/<int:pk>/", views.BatchDetailView.as_view(), name="batch_detail"),
    path("batches/<int:pk>/check/", views.BatchActionView.as_view(action="check"), name="batch_check"),
    path("batches/<int:pk>/approve/", views.BatchActionView.as_view(action="approve"), name="batch_approve"),
    path("batches/<int:pk>/cancel/", views.BatchActionView.as_view(action="cancel"), name="batch_cancel"),
    path("batches/<int:pk>/export/", views.BatchExportView.as_view(), name="batch_export"),
    path("lines/", views.LineListView.as_view(), name="line_list"),
    path("lines/<int:pk>/paid/", views.LineActionView.as_view(action="paid"), name="line_paid"),
    path("lines/<int:pk>/return/", views.LineActionView.as_view(action="return"), name="line_return"),
    path("accounts/", views.AccountListView.as_view(), name="account_list"),
    path("accounts/new/", views.AccountCreateView.as_view(), name="account_create"),
    path("accounts/<int:pk>/", views.AccountDetailView.as_view(), name="account_detail"),
    path("accounts/<int:pk>/close/", views.AccountCloseView.as_view(), name="account_close"),
]
