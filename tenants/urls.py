from django.urls import path

from tenants import views

urlpatterns = [
    path("", views.console_home, name="home"),
    path("console/counties/new/", views.county_new, name="console-county-new"),
    path("console/counties/<str:code>/", views.county_detail, name="console-county"),
    path("console/counties/<str:code>/config/", views.county_config, name="console-county-config"),
    path(
        "console/counties/<str:code>/config/<int:number>/",
        views.county_config_version,
        name="console-county-config-version",
    ),
    path("console/counties/<str:code>/export/", views.county_export_download, name="console-county-export"),
    path("console/counties/<str:code>/admin/", views.county_admin, name="console-county-admin"),
    path("console/counties/<str:code>/break-glass/", views.county_break_glass, name="console-county-break-glass"),
    path("console/counties/<str:code>/support/", views.county_support, name="console-county-support"),
    path(
        "console/counties/<str:code>/<str:action>/",
        views.county_action,
        name="console-county-action",
    ),
    path("console/batches/new/", views.batch_new, name="console-batch-new"),
    path("console/batches/<int:batch_id>/", views.batch_detail, name="console-batch"),
    path("console/operators/", views.operators, name="console-operators"),
    path("api/v1/console/counties/", views.counties_api, name="console-api-counties"),
    path("api/v1/console/batches/<int:batch_id>/", views.batch_progress_api, name="console-api-batch"),
]
