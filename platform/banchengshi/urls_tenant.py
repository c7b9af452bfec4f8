"""URLs of a county, served at ``<slug>.<suffix>`` in the county's schema."""

from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from casework.urls import api_urlpatterns

urlpatterns = [
    path("", include("casework.urls")),
    path("", include("notifications.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/v1/", include((api_urlpatterns, "casework"), namespace="api")),
    path("api/v1/schema/", SpectacularAPIView.as_view(urlconf="banchengshi.urls_tenant"), name="schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
]
