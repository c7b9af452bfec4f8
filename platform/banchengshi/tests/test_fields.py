"""Copied fields validate exactly as DRF's rebuilt ones, and no two requests share a bound field."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from banchengshi.core.fields import CopiedFieldsSerializer


def _declare(base: type[serializers.Serializer]) -> type[serializers.Serializer]:
    attrs: dict[str, Any] = {
        "name": serializers.CharField(max_length=5),
        "channel": serializers.ChoiceField(choices=[("window", "窗口"), ("online", "网上")]),
        "limit": serializers.IntegerField(required=False, min_value=1, max_value=200, default=50),
        "codes": serializers.ListField(child=serializers.CharField(max_length=3), required=False, default=list),
        "since": serializers.DateField(required=False, allow_null=True, default=None),
    }
    return type(f"Input{base.__name__}", (base,), attrs)


PLAIN, COPIED = _declare(serializers.Serializer), _declare(CopiedFieldsSerializer)

CASES = [
    {"name": "abc", "channel": "window"},
    {"name": "abc", "channel": "online", "limit": "7", "codes": ["a", "bb"], "since": "2026-11-24"},
    {"name": "abcdef", "channel": "fax", "limit": "0", "codes": ["long"], "since": "yesterday"},
    {"channel": "window", "limit": "x", "codes": "a"},
    {},
]


def test_copied_fields_validate_and_refuse_exactly_as_drfs_own():
    for data in CASES:
        plain, copied = PLAIN(data=data), COPIED(data=data)
        assert plain.is_valid() == copied.is_valid(), data
        assert plain.errors == copied.errors, data
        assert dict(plain.validated_data if plain.errors == {} else {}) == dict(
            copied.validated_data if copied.errors == {} else {}
        )


def test_each_serializer_binds_fields_of_its_own_and_the_declaration_stays_unbound():
    first, second = COPIED(data=CASES[1]), COPIED(data=CASES[0])
    assert first.is_valid() and second.is_valid()
    for name in ("name", "codes"):
        assert first.fields[name] is not second.fields[name]
        assert first.fields[name].parent is first and second.fields[name].parent is second
    # A list's child is bound to its own list, not shared between requests.
    assert first.fields["codes"].child is not second.fields["codes"].child
    assert first.fields["codes"].child.parent is first.fields["codes"]
    declared = COPIED._declared_fields["name"]
    assert declared.parent is None and declared.field_name is None
    assert first.validated_data["codes"] == ["a", "bb"] and second.validated_data["limit"] == 50
