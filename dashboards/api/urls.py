from django.urls import path

from .views import TownshipFiguresView

urlpatterns = [
    path("townships/", TownshipFiguresView.as_view(), name="dashboards-api-townships"),
]
