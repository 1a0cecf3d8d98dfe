from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from registry import roles

from .views import HomeView

api_v1 = [
    path("registry/", include("registry.api.urls")),
    # The hospital's window settles, so it lives in settlement (claims may not import it).
    path("claims/discharges/", include("settlement.api.window_urls")),
    path("claims/", include("claims.api.urls")),
    path("settlement/", include("settlement.api.urls")),
    path("aid/", include("aid.api.urls")),
    path("payments/", include("payments.api.urls")),
    path("dashboards/", include("dashboards.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file (no inline script: CSP); Swagger UI's
    # page keeps an inline <style>, the one exception to style-src 'self' (docs/security.md).
    path(
        "docs/",
        csp_update({"style-src": ["'unsafe-inline'"]})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
]

urlpatterns = [
    path("", HomeView.as_view(), name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("registry/", include("registry.urls")),
    path("claims/", include("claims.urls")),
    path("dashboards/", include("dashboards.urls")),
    path("settlement/", include("settlement.urls")),
    path("aid/", include("aid.urls")),
    path("payments/", include("payments.urls")),
    path("exports/", include("core.urls")),
    path("api/v1/", include(api_v1)),
    path("admin/", admin.site.urls),
]

# Only county staff use the admin: it sees every township.
admin.site.has_permission = lambda request: (
    request.user.is_active and request.user.is_staff and roles.is_county(request.user)
)
admin.site.site_header = "健康扶贫医疗保障平台 · 系统管理"
admin.site.site_title = "系统管理"
