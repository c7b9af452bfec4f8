from django.urls import path, re_path

from casework.interop import apis, views

FMT = r"\.(?P<fmt>json|xml)$"

urlpatterns = [
    # GeoReport v2: the format is the resource's extension, as the specification has it.
    re_path(r"^open311/v2/services" + FMT, apis.Open311ServiceListApi.as_view(), name="open311-services"),
    re_path(
        r"^open311/v2/services/(?P<code>[\w-]+)" + FMT,
        apis.Open311ServiceDefinitionApi.as_view(),
        name="open311-service-definition",
    ),
    re_path(r"^open311/v2/requests" + FMT, apis.Open311RequestsApi.as_view(), name="open311-requests"),
    re_path(
        r"^open311/v2/requests/(?P<request_id>[\w-]+)" + FMT, apis.Open311RequestApi.as_view(), name="open311-request"
    ),
    path("interop/v1/work-orders/", apis.WorkOrderImportApi.as_view(), name="interop-work-order-import"),
    path(
        "interop/v1/work-orders/<str:external_id>/", apis.WorkOrderDetailApi.as_view(), name="interop-work-order-detail"
    ),
    path("interop/v1/ratings/", apis.RatingCallbackApi.as_view(), name="interop-rating-callback"),
    path("interop/v1/rectifications/", apis.RectificationListApi.as_view(), name="interop-rectification-list"),
    path(
        "interop/v1/rectifications/<str:rectification_id>/",
        apis.RectificationDetailApi.as_view(),
        name="interop-rectification-detail",
    ),
    path(
        "interop/v1/rectifications/<str:rectification_id>/called-back/",
        apis.RectificationCalledBackApi.as_view(),
        name="interop-rectification-called-back",
    ),
    path(
        "interop/v1/rectifications/<str:rectification_id>/rectified/",
        apis.RectificationRectifiedApi.as_view(),
        name="interop-rectification-rectified",
    ),
    path("interop/v1/clients/", apis.ClientListApi.as_view(), name="interop-client-list"),
    path("interop/v1/clients/create/", apis.ClientCreateApi.as_view(), name="interop-client-create"),
    path(
        "interop/v1/clients/<str:client_id>/deactivate/",
        apis.ClientDeactivateApi.as_view(),
        name="interop-client-deactivate",
    ),
    path("interop/v1/settings/", apis.SettingsApi.as_view(), name="interop-settings"),
    # Staff pages of the 差评 rectification loop.
    path("rectifications/", views.rectification_list_page, name="rectification-page"),
    path("rectifications/<uuid:rectification_id>/", views.rectification_detail_page, name="rectification-detail-page"),
    path("rectifications/<uuid:rectification_id>/<str:step>/", views.rectification_step, name="rectification-step"),
]
