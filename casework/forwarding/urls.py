from django.urls import path

from casework.forwarding import apis, views

urlpatterns = [
    path("forwards/", views.incoming_page, name="forward-incoming-page"),
    path("forwards/<uuid:forward_id>/<str:outcome>/", views.decide, name="forward-decide"),
]

api_urlpatterns = [
    path("forward-targets/", apis.ForwardTargetsApi.as_view(), name="forward-targets"),
    path("cases/<str:case_id>/forward/", apis.CaseForwardApi.as_view(), name="case-forward"),
    path("cases/<str:case_id>/forward/recall/", apis.CaseForwardRecallApi.as_view(), name="case-forward-recall"),
    path("cases/<str:case_id>/forwards/", apis.CaseForwardsApi.as_view(), name="case-forwards"),
    path("forwards/incoming/", apis.IncomingForwardListApi.as_view(), name="forward-incoming"),
    path("forwards/<str:forward_id>/", apis.ForwardDetailApi.as_view(), name="forward-detail"),
    path("forwards/<str:forward_id>/accept/", apis.ForwardAcceptApi.as_view(), name="forward-accept"),
    path("forwards/<str:forward_id>/return/", apis.ForwardReturnApi.as_view(), name="forward-return"),
]
