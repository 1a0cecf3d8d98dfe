from rest_framework.routers import DefaultRouter

from . import viewsets as v

router = DefaultRouter()
router.register("funds", v.FundViewSet, basename="payments-fund")
router.register("batches", v.BatchViewSet, basename="payments-batch")
router.register("lines", v.LineViewSet, basename="payments-line")
router.register("accounts", v.BankAccountViewSet, basename="payments-account")

urlpatterns = router.urls
