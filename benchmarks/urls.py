"""The county URLconf plus ``/bench/bare/``: a plain DRF create with token auth in a county schema."""

import uuid
from typing import Any

from django.urls import path
from rest_framework import serializers
from rest_framework.generics import CreateAPIView

from banchengshi.urls_tenant import urlpatterns as county_urlpatterns
from sla.models import LocalHoliday


class BareSerializer(serializers.ModelSerializer):
    class Meta:
        model = LocalHoliday
        fields = ["key", "name"]
        read_only_fields = ["key"]


class BareCreateApi(CreateAPIView):
    serializer_class = BareSerializer

    def perform_create(self, serializer: Any) -> None:
        # Inactive rows: the reference write must not change the county's calendar.
        serializer.save(key=uuid.uuid4().hex[:10], is_active=False)


urlpatterns = [path("bench/bare/", BareCreateApi.as_view()), *county_urlpatterns]
