from django.urls import path
from rest_framework.routers import DefaultRouter

from . import viewsets as v

router = DefaultRouter()
router.register("policies", v.PolicyViewSet, basename="settlement-policy")
router.register("settlements", v.SettlementViewSet, basename="settlement")

urlpatterns = [
    path("preview/", v.PreviewView.as_view(), name="settlement-preview"),
    path("ledger/", v.LedgerView.as_view(), name="settlement-ledger"),
    *router.urls,
]
