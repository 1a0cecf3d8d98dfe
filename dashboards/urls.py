from django.urls import path

from . import views

app_name = "dashboards"

urlpatterns = [
    path("", views.OverviewView.as_view(), name="overview"),
    path("townships/", views.TownshipTableView.as_view(), name="township_table"),
    path("townships/<int:pk>/", views.OverviewView.as_view(), name="township"),
    path("lists/<slug:figure>/", views.FigureListView.as_view(), name="figure_list"),
    path("risk/", views.RiskListView.as_view(), name="risk_list"),
    path("targets/", views.TargetsView.as_view(), name="targets"),
    path("refresh/", views.RefreshView.as_view(), name="refresh"),
    path("refresh/<int:pk>/progress/", views.RefreshProgressView.as_view(), name="refresh_progress"),
    path("notices/", views.NoticeIndexView.as_view(), name="notice_index"),
    path("notices/<int:village>/<int:year>/<int:month>/", views.NoticeView.as_view(), name="notice"),
    path("notices/<int:pk>/close/", views.NoticeCloseView.as_view(), name="notice_close"),
    path("notices/<int:pk>/objections/", views.ObjectionCreateView.as_view(), name="objection_create"),
    path("objections/<int:pk>/resolve/", views.ObjectionResolveView.as_view(), name="objection_resolve"),
    path("funds/", views.FundUseView.as_view(), name="fund_use"),
    path("survey/", views.SurveyView.as_view(), name="survey"),
]
