"""Attachments in transit: the receiving county trusts nothing of the file list another county wrote.

The envelope's ``path``, ``size``, ``content_type`` and ``name`` come from the sending county's row;
a file missing from the exchange, one too large, one that escapes the exchange directory or one
that is not what it says is refused with a clear error, and the forward stays undecided.
"""

from __future__ import annotations

import hashlib

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django_tenants.utils import tenant_context

from casework import services
from casework.exchange.models import Envelope
from casework.forwarding.models import Forward
from casework.forwarding.services import exchange_storage
from casework.forwarding.tests.test_apis import forward, ok, register
from casework.models import Attachment, Case

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n"


def _sent_with_a_file(county_a, county_b, staff_api, agreement, content=PDF, name="营业执照.pdf"):
    """A case of A forwarded to B with one attachment; the forward envelope not yet delivered."""
    agreement()
    clerk_a = staff_api(county_a, "window_clerk")
    case = register(clerk_a)
    with tenant_context(county_a):
        upload = SimpleUploadedFile(name, content, content_type="application/pdf")
        services.attachment_add(actor=Case.objects.get(pk=case["id"]).registered_by, case_id=case["id"], upload=upload)
    case = ok(clerk_a.get(f"cases/{case['id']}/"))
    ok(forward(clerk_a, case, (county_b.code, "lead"), attachment_ids=[case["attachments"][0]["id"]]))
    return Envelope.objects.get(kind="forward", source_code=county_a.code)


def _file_item_set(envelope: Envelope, **changes) -> None:
    envelope.payload["attachments"][0].update(changes)
    envelope.save(update_fields=["payload"])


def _accept(county_b, staff_api):
    clerk_b = staff_api(county_b, "window_clerk")
    item = ok(clerk_b.get("forwards/incoming/"))[0]
    return item, clerk_b.post(f"forwards/{item['id']}/accept/", {"kind_code": "case"})


def _refused(response, county_b) -> None:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "casework.upload_rejected"
    assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"]), error["message"]
    with tenant_context(county_b):
        assert Forward.objects.get().status == "pending"
        assert not Case.objects.exists() and not Attachment.objects.exists()


def test_a_file_missing_from_the_exchange_is_a_clear_refusal(county_a, county_b, staff_api, agreement, deliver):
    envelope = _sent_with_a_file(county_a, county_b, staff_api, agreement)
    deliver()
    exchange_storage().delete(envelope.payload["attachments"][0]["path"])
    _item, response = _accept(county_b, staff_api)
    _refused(response, county_b)


@pytest.mark.parametrize(
    "path",
    [
        "../public/secret.pdf",
        "/etc/hostname",
        "{group}/../../{schema_a}/x.pdf",
        "00000000-0000-0000-0000-000000000000/{name}",  # another forward's file in transit
        "{group}",
        "",
    ],
)
def test_a_path_outside_its_forwards_directory_is_never_read(county_a, county_b, staff_api, agreement, deliver, path):
    envelope = _sent_with_a_file(county_a, county_b, staff_api, agreement)
    real = envelope.payload["attachments"][0]["path"]
    group, name = real.split("/")
    # Another forward's file, with the same content (so the same checksum), in its own directory.
    with exchange_storage().open(real, "rb") as handle:
        exchange_storage().save(f"00000000-0000-0000-0000-000000000000/{name}", ContentFile(handle.read()))
    _file_item_set(envelope, path=path.format(group=group, name=name, schema_a=county_a.schema_name))
    deliver()
    _item, response = _accept(county_b, staff_api)
    _refused(response, county_b)


def test_a_file_larger_than_the_limit_is_refused_before_it_is_read(county_a, county_b, staff_api, agreement, deliver):
    envelope = _sent_with_a_file(county_a, county_b, staff_api, agreement)
    deliver()
    with override_settings(CASE_ATTACHMENT_MAX_BYTES=16):
        _item, response = _accept(county_b, staff_api)
    _refused(response, county_b)
    assert envelope.payload["attachments"][0]["size"] > 16


def test_the_file_is_stored_as_what_it_contains_not_as_the_sender_says(
    county_a, county_b, staff_api, agreement, deliver
):
    envelope = _sent_with_a_file(county_a, county_b, staff_api, agreement)
    _file_item_set(envelope, content_type="text/html", name="x" * 400 + ".html")
    deliver()
    item, response = _accept(county_b, staff_api)
    taken = ok(response)
    with tenant_context(county_b):
        copied = Attachment.objects.get(case_id=taken["case_id"])
        assert copied.content_type == "application/pdf"
        assert copied.file.name.endswith(".pdf") and len(copied.original_name) <= 255


def test_a_file_that_is_not_a_pdf_jpeg_or_png_is_refused(county_a, county_b, staff_api, agreement, deliver):
    envelope = _sent_with_a_file(county_a, county_b, staff_api, agreement)
    # The sender's file replaced in the exchange by a page (its checksum updated to match).
    page = b"<html><script>alert(1)</script></html>"
    path = envelope.payload["attachments"][0]["path"]
    storage = exchange_storage()
    storage.delete(path)
    assert storage.save(path, ContentFile(page)) == path
    _file_item_set(envelope, sha256=hashlib.sha256(page).hexdigest(), size=len(page))
    deliver()
    _item, response = _accept(county_b, staff_api)
    _refused(response, county_b)
