from django.urls import path

from . import views

app_name = "aid"

urlpatterns = [
    path("", views.ApplicationListView.as_view(), name="application_list"),
    path("new/", views.ApplicationCreateView.as_view(), name="application_create"),
    path("<int:pk>/", views.ApplicationDetailView.as_view(), name="application_detail"),
    path("<int:pk>/statement/", views.StatementView.as_view(), name="statement"),
    path("<int:pk>/review/", views.ReviewView.as_view(), name="review"),
    path("<int:pk>/approve/", views.ApproveView.as_view(), name="approve"),
    path("<int:pk>/return/", views.ReturnView.as_view(), name="return"),
    path("<int:pk>/refuse/", views.RefuseView.as_view(), name="refuse"),
    path("<int:pk>/resubmit/", views.ResubmitView.as_view(), name="resubmit"),
    path("<int:pk>/invoices/", views.InvoiceAddView.as_view(), name="invoice_add"),
    path("<int:pk>/documents/", views.DocumentAddView.as_view(), name="document_add"),
    path("documents/<int:pk>/", views.DocumentView.as_view(), name="document"),
]
