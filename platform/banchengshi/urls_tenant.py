"""URLs of a county, served at ``<slug>.<suffix>`` in the county's schema."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from casework.forwarding.urls import api_urlpatterns as forwarding_api_urlpatterns
from casework.urls import api_urlpatterns

urlpatterns = [
    # The API's case routes first: every request walks the list in order, and these are the
    # busiest (a registration used to try about thirty patterns before reaching its own).
    path("api/v1/", include((api_urlpatterns, "casework"), namespace="api")),
    path("", include("casework.urls")),
    path("", include("notifications.urls")),
    path("", include("reporting.urls")),
    path("", include("casework.forwarding.urls")),
    path("", include("casework.interop.urls")),
    path("accounts/", include("banchengshi.accounts.urls")),
    path("audit/", include("banchengshi.audit.urls")),
    path("api/v1/audit/", include(("banchengshi.audit.api_urls", "audit"), namespace="audit-api")),
    path("api/v1/", include((forwarding_api_urlpatterns, "forwarding"), namespace="forwarding")),
    path("api/v1/schema/", SpectacularAPIView.as_view(urlconf="banchengshi.urls_tenant"), name="schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]

# Also when routing found no county because the database is down (see banchengshi.core.views).
handler403 = "banchengshi.core.views.permission_denied"
handler404 = "banchengshi.core.views.page_not_found"
handler500 = "banchengshi.core.views.server_error"
