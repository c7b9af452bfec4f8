from django.urls import path

from casework import apis, views

urlpatterns = [
    path("", views.county_home, name="home"),
    path("work/", views.work_queue, name="work-queue"),
    path("cases/new/", views.case_new, name="case-new"),
    path("cases/<uuid:case_id>/", views.case_page, name="case-page"),
    path("cases/<uuid:case_id>/step/<str:step>/", views.case_step, name="case-step"),
    path("cases/<uuid:case_id>/extension/<str:step>/", views.extension_step, name="extension-step"),
    path("assignments/<uuid:assignment_id>/<str:outcome>/", views.assignment_step, name="assignment-step"),
    path("ledger/", views.ledger, name="ledger"),
    path("ledger/<uuid:finding_id>/<str:step>/", views.finding_step, name="finding-step"),
    path("staff/", views.staff_page, name="staff-page"),
    path("outbox/", views.outbox_page, name="outbox-page"),
    path("staff/<uuid:profile_id>/<str:step>/", views.staff_step, name="staff-step"),
    path("submit/", views.citizen_submit, name="citizen-submit"),
    path("track/", views.citizen_track, name="citizen-track"),
    path("track/rate/", views.citizen_rate, name="citizen-rate-page"),
]

api_urlpatterns = [
    path("cases/", apis.CaseListApi.as_view(), name="case-list"),
    path("cases/create/", apis.CaseRegisterApi.as_view(), name="case-register"),
    path("cases/<str:case_id>/", apis.CaseDetailApi.as_view(), name="case-detail"),
    path("cases/<str:case_id>/accept/", apis.CaseAcceptApi.as_view(), name="case-accept"),
    path("cases/<str:case_id>/not-accept/", apis.CaseNotAcceptApi.as_view(), name="case-not-accept"),
    path(
        "cases/<str:case_id>/accept-and-assign/", apis.CaseAcceptAndAssignApi.as_view(), name="case-accept-and-assign"
    ),
    path("cases/<str:case_id>/classify/", apis.CaseClassifyApi.as_view(), name="case-classify"),
    path("cases/<str:case_id>/assign/", apis.CaseAssignApi.as_view(), name="case-assign"),
    path("cases/<str:case_id>/co-handlers/", apis.CaseCoHandlersAddApi.as_view(), name="case-co-handlers-add"),
    path(
        "cases/<str:case_id>/request-materials/", apis.CaseRequestMaterialsApi.as_view(), name="case-request-materials"
    ),
    path(
        "cases/<str:case_id>/materials-received/",
        apis.CaseMaterialsReceivedApi.as_view(),
        name="case-materials-received",
    ),
    path("cases/<str:case_id>/escalate/", apis.CaseEscalateApi.as_view(), name="case-escalate"),
    path(
        "cases/<str:case_id>/escalation-answer/", apis.CaseEscalationAnswerApi.as_view(), name="case-escalation-answer"
    ),
    path("cases/<str:case_id>/reply/", apis.CaseReplyApi.as_view(), name="case-reply"),
    path("cases/<str:case_id>/follow-up/", apis.CaseFollowUpApi.as_view(), name="case-follow-up"),
    path("cases/<str:case_id>/archive/", apis.CaseArchiveApi.as_view(), name="case-archive"),
    path("cases/<str:case_id>/attachments/", apis.CaseAttachmentAddApi.as_view(), name="case-attachment-add"),
    path(
        "cases/<str:case_id>/attachments/<str:attachment_id>/",
        apis.CaseAttachmentDownloadApi.as_view(),
        name="case-attachment-download",
    ),
    path("cases/<str:case_id>/withdraw/", apis.CaseWithdrawApi.as_view(), name="case-withdraw"),
    path("cases/<str:case_id>/extension/", apis.CaseExtensionRequestApi.as_view(), name="case-extension-request"),
    path("extensions/<str:extension_id>/decide/", apis.ExtensionDecideApi.as_view(), name="extension-decide"),
    path("assignments/", apis.AssignmentQueueApi.as_view(), name="assignment-queue"),
    path("assignments/<str:assignment_id>/complete/", apis.AssignmentCompleteApi.as_view(), name="assignment-complete"),
    path("assignments/<str:assignment_id>/return/", apis.AssignmentReturnApi.as_view(), name="assignment-return"),
    path("findings/", apis.FindingListApi.as_view(), name="finding-list"),
    path("findings/create/", apis.FindingRaiseApi.as_view(), name="finding-raise"),
    path("findings/<str:finding_id>/", apis.FindingDetailApi.as_view(), name="finding-detail"),
    path("findings/<str:finding_id>/actions/", apis.FindingActionAddApi.as_view(), name="finding-action-add"),
    path("findings/<str:finding_id>/look-back/", apis.FindingLookBackApi.as_view(), name="finding-look-back"),
    path("reference/", apis.ReferenceDataApi.as_view(), name="reference-data"),
    path("staff/", apis.StaffListApi.as_view(), name="staff-list"),
    path("staff/create/", apis.StaffCreateApi.as_view(), name="staff-create"),
    path("staff/<str:profile_id>/role/", apis.StaffRoleApi.as_view(), name="staff-role"),
    path("staff/<str:profile_id>/deactivate/", apis.StaffDeactivateApi.as_view(), name="staff-deactivate"),
    path("public/submit/", apis.CitizenSubmitApi.as_view(), name="citizen-submit"),
    path("public/track/", apis.CitizenTrackApi.as_view(), name="citizen-track"),
    path("public/rate/", apis.CitizenRateApi.as_view(), name="citizen-rate"),
]
