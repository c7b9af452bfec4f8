from django.urls import path

from reporting import apis, views

app_name = "reporting"

# County host: pages under /reports/, the API under /api/v1/reports/ (same URLconf, one include).
urlpatterns = [
    path("reports/", views.dashboard, name="dashboard"),
    path("reports/scoring-rule/", views.scoring_rule_save, name="scoring-rule-save"),
    path("reports/quarterly/", views.report_request, name="report-request"),
    path("reports/quarterly/<str:report_id>/", views.report_page, name="report-page"),
    path("reports/quarterly/<str:report_id>/download/", views.report_download, name="report-download"),
    path("reports/export/cases.xlsx", views.export_cases, name="export-cases"),
    path("reports/export/figures.xlsx", views.export_figures, name="export-figures"),
    path("api/v1/reports/figures/", apis.FiguresApi.as_view(), name="api-figures"),
    path("api/v1/reports/figures/<str:dimension>/", apis.FiguresByApi.as_view(), name="api-figures-by"),
    path("api/v1/reports/ranking/", apis.RankingApi.as_view(), name="api-ranking"),
    path("api/v1/reports/scoring-rule/", apis.ScoringRuleApi.as_view(), name="api-scoring-rule"),
    path("api/v1/reports/scoring-rule/set/", apis.ScoringRuleSetApi.as_view(), name="api-scoring-rule-set"),
    path("api/v1/reports/quarterly/", apis.ReportListApi.as_view(), name="api-report-list"),
    path("api/v1/reports/quarterly/create/", apis.ReportRequestApi.as_view(), name="api-report-request"),
    path("api/v1/reports/quarterly/<str:report_id>/", apis.ReportDetailApi.as_view(), name="api-report-detail"),
    path(
        "api/v1/reports/quarterly/<str:report_id>/download/",
        apis.ReportDownloadApi.as_view(),
        name="api-report-download",
    ),
    path("api/v1/reports/export/cases/", apis.CasesExportApi.as_view(), name="api-export-cases"),
    path("api/v1/reports/export/figures/", apis.FiguresExportApi.as_view(), name="api-export-figures"),
]
