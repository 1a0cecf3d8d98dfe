from django.urls import path
from rest_framework.routers import DefaultRouter

from .facts import HouseholdStatusChangeList, MemberAidChangeList, MemberEnrollmentList
from .viewsets import HouseholdViewSet, MemberViewSet, TownshipViewSet, VillageViewSet

router = DefaultRouter()
router.register("townships", TownshipViewSet, basename="township")
router.register("villages", VillageViewSet, basename="village")
router.register("households", HouseholdViewSet, basename="household")
router.register("members", MemberViewSet, basename="member")

urlpatterns = router.urls + [
    # Dated facts (registry/api/facts.py)
    path(
        "households/<int:pk>/status-changes/",
        HouseholdStatusChangeList.as_view(),
        name="household-status-changes",
    ),
    path(
        "members/<int:pk>/aid-category-changes/",
        MemberAidChangeList.as_view(),
        name="member-aid-category-changes",
    ),
    path("members/<int:pk>/enrollments/", MemberEnrollmentList.as_view(), name="member-enrollments"),
]
