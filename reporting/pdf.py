"""HTML to PDF with WeasyPrint: A4, the county and period in the header, page numbers in the footer.

The page says ``lang="zh-CN"`` and names "Noto Sans CJK SC" (Debian's fonts-noto-cjk): with a
generic font, fontconfig picks the Japanese variants of shared glyphs. The font is subset through
HarfBuzz (libharfbuzz-subset0); without it WeasyPrint falls back to fontTools and is ~5x slower.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.translation import gettext as _


def css_string(text: str) -> str:
    """``text`` as a quoted CSS string (for ``content:`` in the page margins)."""
    return '"' + re.sub(r'(["\\])', r"\\\1", text).replace("\n", " ") + '"'


def page_number_css() -> str:
    """ "第 N 页，共 M 页" as CSS ``content``, from the translated pattern."""
    pattern = _("Page {page} of {pages}")
    parts = re.split(r"(\{page\}|\{pages\})", pattern)
    out = []
    for part in parts:
        if part == "{page}":
            out.append("counter(page)")
        elif part == "{pages}":
            out.append("counter(pages)")
        elif part:
            out.append(css_string(part))
    return " ".join(out)


def render_html(template: str, context: dict[str, Any], *, header_left: str, header_right: str) -> str:
    context = {
        **context,
        "header_left_css": css_string(header_left),
        "header_right_css": css_string(header_right),
        "footer_css": page_number_css(),
    }
    return render_to_string(template, context)


def render_pdf(html: str) -> tuple[bytes, int]:
    """The PDF bytes and the number of pages."""
    from weasyprint import HTML  # type: ignore[import-untyped]

    document = HTML(string=html, base_url=str(settings.PROJECT_ROOT)).render()
    pdf = document.write_pdf()
    assert pdf is not None  # noqa: S101 - write_pdf without a target returns the bytes
    return pdf, len(document.pages)
