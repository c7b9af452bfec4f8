"""OpenAPI schema generation for the platform's one-view-per-operation style."""

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    """Name nested serializers after their owner (``CaseReplyApi.InputSerializer`` → ``CaseReplyApiInput``).

    Every view declares its own ``InputSerializer``/``OutputSerializer``; without the owner's name
    they would all become one component and the schema would describe the wrong bodies.
    """

    def _get_serializer_name(self, serializer: Any, direction: str, bypass_extensions: bool = False) -> str:
        name = str(super()._get_serializer_name(serializer, direction, bypass_extensions))
        serializer_class = serializer if isinstance(serializer, type) else type(serializer)
        owner, _, _own = serializer_class.__qualname__.rpartition(".")
        return f"{owner.replace('.', '')}{name}" if owner else name
