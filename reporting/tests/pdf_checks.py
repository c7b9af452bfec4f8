"""Checks on real PDFs: their text (pdftotext, else pypdf), the fonts embedded in them, their pages as PNG.

The pages are written under var/test-media/report-pages/ so a person can look at them.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from pypdf import PdfReader

PAGES_DIR = Path(settings.MEDIA_ROOT) / "report-pages"


def pdf_text(data: bytes) -> str:
    if shutil.which("pdftotext"):
        done = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True)  # noqa: S607
        return done.stdout.decode()
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def embedded_fonts(data: bytes) -> set[str]:
    names = set()
    for page in PdfReader(io.BytesIO(data)).pages:
        resources: Any = page["/Resources"]
        for font in (resources.get("/Font") or {}).values():
            font = font.get_object()
            descendants = font.get("/DescendantFonts")
            descriptor = (descendants[0].get_object() if descendants else font).get("/FontDescriptor")
            if descriptor is not None:
                descriptor = descriptor.get_object()
                if any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3")):
                    names.add(str(font["/BaseFont"]))
    return names


def render_pages(data: bytes, directory: Path, name: str) -> list[Path]:
    """Every page as PNG (pdftoppm, 60 dpi): ``<directory>/<name>-<n>.png``."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob(f"{name}-*.png"):
        old.unlink()
    source = directory / f"{name}.pdf"
    source.write_bytes(data)
    subprocess.run(["pdftoppm", "-png", "-r", "60", str(source), str(directory / name)], check=True)  # noqa: S603, S607
    return sorted(directory.glob(f"{name}-*.png"))
