from django.urls import path

from banchengshi.audit import apis

urlpatterns = [
    path("records/", apis.AuditRecordListApi.as_view(), name="record-list"),
    path("records/export/", apis.AuditRecordExportApi.as_view(), name="record-export"),
    path("records/<str:record_id>/", apis.AuditRecordDetailApi.as_view(), name="record-detail"),
]
