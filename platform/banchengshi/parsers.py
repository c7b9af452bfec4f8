"""Request body parsers: DRF's, with every way a body can be unreadable answered as a 400."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import exceptions, parsers


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; a body nested deeper than Python's recursion limit is a 400, not a 500.

    The standard library's decoder recurses once per ``[`` or ``{``: 2 KB of brackets from anyone
    on the internet would otherwise end the request in a ``RecursionError``.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise exceptions.ParseError(_("The JSON is nested too deeply.")) from exc
