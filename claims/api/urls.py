from rest_framework.routers import DefaultRouter

from . import review
from . import viewsets as v

router = DefaultRouter()
router.register("institutions", v.InstitutionViewSet, basename="institution")
router.register("diseases", v.DiseaseViewSet, basename="disease")
router.register("packages", v.PackageViewSet, basename="package")
router.register("catalogue-items", v.CatalogueItemViewSet, basename="catalogue-item")
router.register("illnesses", v.IllnessViewSet, basename="illness")
router.register("screenings", v.ScreeningViewSet, basename="screening")
router.register("teams", v.TeamViewSet, basename="team")
router.register("contracts", v.ContractViewSet, basename="contract")
router.register("followups", v.FollowUpViewSet, basename="followup")
router.register("encounters", v.EncounterViewSet, basename="encounter")
router.register("review", review.ReviewViewSet, basename="review")

urlpatterns = router.urls
