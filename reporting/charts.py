"""SVG charts drawn on the server, for the dashboard and the PDF alike.

Every text element names the Simplified Chinese font itself: WeasyPrint does not pass the page's
CSS font into SVG text, and a generic sans-serif picks Japanese glyph variants.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

FONT = "Noto Sans CJK SC"
_TEXT = f'font-family="{FONT}" font-size="12" fill="#1f2328"'
PALETTE = ("#b71c1c", "#1f6feb", "#2da44e", "#bf8700")


def _svg(width: int, height: int, body: list[str], title: str) -> SafeString:
    return mark_safe(  # noqa: S308 - every label is escaped below
        f'<svg xmlns="http://www.w3.org/2000/svg" xml:lang="zh-CN" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _fmt(value: float) -> str:
    return f"{value:g}" if isinstance(value, int) or value == int(value) else f"{value:.1f}"


def bar_chart(rows: Sequence[tuple[str, float]], *, title: str, width: int = 640, unit: str = "") -> SafeString:
    """Horizontal bars, one per row (label, value), in the order given."""
    label_width, bar_height, gap, top = 190, 18, 8, 8
    height = top * 2 + max(1, len(rows)) * (bar_height + gap)
    largest = max((value for _label, value in rows), default=0) or 1
    room = width - label_width - 70
    body = []
    for index, (label, value) in enumerate(rows):
        y = top + index * (bar_height + gap)
        length = max(1.0, room * value / largest) if value else 0.0
        short = label if len(label) <= 14 else label[:13] + "…"
        body.append(
            f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end" {_TEXT}>{escape(short)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" fill="{PALETTE[0]}"/>'
            f'<text x="{label_width + length + 4:.1f}" y="{y + 13}" {_TEXT}>{_fmt(value)}{escape(unit)}</text>'
        )
    return _svg(width, height, body, title)


def column_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    title: str,
    width: int = 640,
    height: int = 240,
) -> SafeString:
    """Grouped columns per label (months), one colour per series, with a legend."""
    left, right, top, bottom = 36, 10, 26, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    largest = float(max((v for _name, values in series for v in values), default=0) or 1)
    slot = plot_w / max(1, len(labels))
    column = slot * 0.8 / max(1, len(series))
    body = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" stroke="#57606a"/>',
        f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" {_TEXT}>{_fmt(largest)}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" {_TEXT}>0</text>',
    ]
    for s, (name, _values) in enumerate(series):
        x: float = left + s * 110
        body.append(
            f'<rect x="{x}" y="6" width="12" height="12" fill="{PALETTE[s % len(PALETTE)]}"/>'
            f'<text x="{x + 16}" y="16" {_TEXT}>{escape(name)}</text>'
        )
    for i, label in enumerate(labels):
        x0 = left + i * slot + slot * 0.1
        for s, (_name, values) in enumerate(series):
            value = values[i]
            h = plot_h * value / largest
            x = x0 + s * column
            body.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{column:.1f}" height="{h:.1f}" '
                f'fill="{PALETTE[s % len(PALETTE)]}"/>'
            )
            if value:
                body.append(
                    f'<text x="{x + column / 2:.1f}" y="{top + plot_h - h - 3:.1f}" text-anchor="middle" '
                    f'{_TEXT} font-size="10">{_fmt(value)}</text>'
                )
        body.append(
            f'<text x="{left + i * slot + slot / 2:.1f}" y="{height - 10}" text-anchor="middle" {_TEXT}>'
            f"{escape(label)}</text>"
        )
    return _svg(width, height, body, title)
