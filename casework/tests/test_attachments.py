"""Attachments are judged by their content and size, stored per county, and served only to who may see the case."""

from __future__ import annotations

import io

import pytest
from django.core.files.storage import default_storage
from django_tenants.utils import tenant_context
from PIL import Image

from casework.models import Attachment

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(buffer, format="PNG")
    return buffer.getvalue()


def upload(api, case_id, name, content):
    file = io.BytesIO(content)
    file.name = name
    return api.client.post(f"/api/v1/cases/{case_id}/attachments/", {"file": file}, format="multipart")


@pytest.fixture
def case(county_a, staff_api):
    clerk = staff_api(county_a, "window_clerk")
    response = clerk.post(
        "cases/create/",
        {"matter": "材料", "description": "附件", "citizen_name": "孙女士", "citizen_phone": "13811119999",
         "channel": "window", "kind": "case"},
    )  # fmt: skip
    return response.json()


def test_a_pdf_and_a_png_are_attached_stored_per_county_and_downloadable(county_a, staff_api, case):
    clerk = staff_api(county_a, "window_clerk")
    assert upload(clerk, case["id"], "申请书.pdf", PDF).status_code == 201
    detail = upload(clerk, case["id"], "照片.PNG", png_bytes()).json()
    names = [(a["original_name"], a["content_type"]) for a in detail["attachments"]]
    assert names == [("申请书.pdf", "application/pdf"), ("照片.PNG", "image/png")]
    assert detail["events"][-1]["action"] == "attachment_added"

    pdf = detail["attachments"][0]
    response = clerk.client.get(f"/api/v1/cases/{case['id']}/attachments/{pdf['id']}/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    with tenant_context(county_a):
        stored = Attachment.objects.get(pk=pdf["id"])
        assert f"/{county_a.schema_name}/" in default_storage.path(stored.file.name)
        default_storage.delete(stored.file.name)


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("证明.pdf", b"MZ\x90\x00 this is a windows program", "only"),
        ("证明.pdf", b"<html><script>alert(1)</script></html>", "only"),
        ("照片.pdf", png_bytes(), "does not match"),
        ("申请书.png", PDF, "does not match"),
        ("readme.txt", b"%PDF-1.4 but named txt", "does not match"),
        # The right first bytes in front of something else.
        ("证明.pdf", b"%PDF-<html><script>alert(1)</script></html>", "not a readable"),
        ("照片.jpg", b"\xff\xd8\xffMZ\x90\x00 this is a windows program", "not a readable"),
        ("照片.png", b"\x89PNG\r\n\x1a\n" + b"<html><script>alert(1)</script></html>", "not a readable"),
        ("照片.png", png_bytes()[:-20], "not a readable"),  # cut short
    ],
)
def test_disguised_files_are_refused_by_content(county_a, staff_api, case, name, content, why):
    clerk = staff_api(county_a, "window_clerk")
    response = upload(clerk, case["id"], name, content)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "casework.upload_rejected"
    assert error["details"][0]["field"] == "file"
    with tenant_context(county_a):
        assert not Attachment.objects.filter(case_id=case["id"]).exists()


def test_oversized_files_are_refused(county_a, staff_api, case, settings):
    settings.CASE_ATTACHMENT_MAX_BYTES = 1024 * 1024
    clerk = staff_api(county_a, "window_clerk")
    response = upload(clerk, case["id"], "大文件.pdf", PDF + b"0" * (1024 * 1024))
    assert response.status_code == 400
    assert "1 MB" in response.json()["error"]["message"]
    with tenant_context(county_a):
        assert not Attachment.objects.exists()


def test_an_empty_file_is_refused(county_a, staff_api, case):
    response = upload(staff_api(county_a, "window_clerk"), case["id"], "空.pdf", b"")
    assert response.status_code == 400
