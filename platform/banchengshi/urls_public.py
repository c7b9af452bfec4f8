"""URLs of the provincial console, served at the console host (the public schema)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("", include("tenants.urls")),
    path("", include(("reporting.urls_province", "reporting"), namespace="reporting")),
    path("accounts/", include("banchengshi.accounts.urls")),
    path("audit/", include("banchengshi.audit.urls")),
    path("api/v1/audit/", include(("banchengshi.audit.api_urls", "audit"), namespace="audit-api")),
    path("api/v1/", include(("sla.national.urls", "calendar"), namespace="calendar")),
    path("api/v1/", include(("casework.exchange.urls", "exchange"), namespace="exchange")),
    path("api/v1/schema/", SpectacularAPIView.as_view(urlconf="banchengshi.urls_public"), name="schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

# Also when routing found no county because the database is down (see banchengshi.core.views).
handler403 = "banchengshi.core.views.permission_denied"
handler404 = "banchengshi.core.views.page_not_found"
handler500 = "banchengshi.core.views.server_error"
