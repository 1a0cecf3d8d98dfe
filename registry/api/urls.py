from rest_framework.routers import DefaultRouter

from .viewsets import HouseholdViewSet, MemberViewSet, TownshipViewSet, VillageViewSet

router = DefaultRouter()
router.register("townships", TownshipViewSet, basename="township")
router.register("villages", VillageViewSet, basename="village")
router.register("households", HouseholdViewSet, basename="household")
router.register("members", MemberViewSet, basename="member")

urlpatterns = router.urls
