from rest_framework.routers import DefaultRouter

from . import viewsets as v

router = DefaultRouter()
router.register("applications", v.ApplicationViewSet, basename="aid-application")

urlpatterns = router.urls
