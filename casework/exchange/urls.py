from django.urls import path

from casework.exchange import apis

urlpatterns = [
    path("forward-agreements/", apis.AgreementListApi.as_view(), name="agreement-list"),
    path("forward-agreements/create/", apis.AgreementCreateApi.as_view(), name="agreement-create"),
    path("forward-agreements/<str:agreement_id>/end/", apis.AgreementEndApi.as_view(), name="agreement-end"),
]
