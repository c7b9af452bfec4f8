"""Console host (public schema): province-wide figures and report for provincial operators."""

from django.urls import path

from reporting import apis, views

urlpatterns = [
    path("reports/province/", views.province_page, name="province"),
    path("reports/province/generate/", views.province_report_request, name="province-request"),
    path("reports/province/<int:year>/q<int:quarter>.pdf", views.province_report_download, name="province-download"),
    path("api/v1/province/figures/", apis.ProvinceFiguresApi.as_view(), name="api-province-figures"),
    path("api/v1/province/reports/create/", apis.ProvinceReportRequestApi.as_view(), name="api-province-request"),
    path(
        "api/v1/province/reports/<int:year>/<int:quarter>/",
        apis.ProvinceReportStatusApi.as_view(),
        name="api-province-status",
    ),
    path(
        "api/v1/province/reports/<int:year>/<int:quarter>/download/",
        apis.ProvinceReportDownloadApi.as_view(),
        name="api-province-download",
    ),
]
