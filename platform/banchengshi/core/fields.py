"""Input serializers whose fields are copied, not rebuilt, for each request.

DRF deep-copies a serializer's declared fields for every instance, and a field's deep copy calls
its constructor again with the original arguments (validators, choices, messages...): about
100 µs of CPU for a dozen fields, on every request of the busiest endpoints (registering a case,
the case list). A leaf field keeps nothing per request until ``bind`` gives it its name and
parent, which a shallow copy owns; so a shallow copy is the same field. A field holding other
fields (a list's child, a nested serializer) binds those too, so it is still deep-copied.
"""

from __future__ import annotations

import copy
from typing import Any

from rest_framework import serializers

_CONTAINERS = (serializers.BaseSerializer, serializers.ListField, serializers.DictField, serializers.HStoreField)


class CopiedFieldsSerializer(serializers.Serializer):
    """A ``Serializer`` for request input on a hot path: its declared fields are copied cheaply."""

    def get_fields(self) -> dict[str, Any]:
        return {
            name: copy.deepcopy(field) if isinstance(field, _CONTAINERS) else copy.copy(field)
            for name, field in self._declared_fields.items()
        }
