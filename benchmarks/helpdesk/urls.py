"""helpdesk at the site root (``/tickets/``, ``/api/tickets/``), as its demo project mounts it."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("helpdesk.urls", namespace="helpdesk")),
]
