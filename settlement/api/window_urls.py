"""/api/v1/claims/discharges/… (included from healthaid/urls.py before claims' own API)."""

from django.urls import path

from . import window as v

urlpatterns = [
    path("", v.DischargeView.as_view(), name="discharge-list"),
    path("<str:visit_number>/correction/", v.DischargeCorrectionView.as_view(), name="discharge-correction"),
    path("<str:visit_number>/cancel/", v.DischargeCancelView.as_view(), name="discharge-cancel"),
]
