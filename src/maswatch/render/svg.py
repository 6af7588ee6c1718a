"""SVG text and element helpers: every string that reaches the markup goes through here.

Text is escaped (so user text never becomes markup) and stripped of the characters XML 1.0
forbids (so a stray control character cannot make the whole page unparseable). Colours and
dash patterns are checked against a strict pattern because they are written into attributes.
"""

from __future__ import annotations

import hashlib
import html
import math
import re

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_COLOUR = re.compile(r"^(#[0-9a-fA-F]{3,8}|none)$")
_DASH = re.compile(r"^(\d+(\.\d+)?( \d+(\.\d+)?)*)?$")
FONT_FAMILY = "system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"
"""A presentation attribute on the <svg>; a page scales the chart with its own CSS (max-width: 100%)."""


def esc(text) -> str:
    """Text or attribute value, escaped; XML-invalid characters become U+FFFD."""
    return html.escape(_XML_INVALID.sub("\ufffd", str(text)), quote=True)


def colour(value: str) -> str:
    if not _COLOUR.match(value):
        raise ValueError(f"not a colour: {value!r} (use #rgb, #rrggbb or 'none')")
    return value


def dash(value: str | None) -> str:
    if value is None or value == "":
        return ""
    if not _DASH.match(value):
        raise ValueError(f"not a dash pattern: {value!r} (use numbers separated by spaces, e.g. '6 3')")
    return value


def num(x: float) -> str:
    """A coordinate: one decimal, no '-0.0'."""
    s = f"{x:.1f}"
    return "0.0" if s == "-0.0" else s


def number_label(x: float) -> str:
    """A tick or value label a clinician reads: thousands separators, no needless decimals."""
    if not math.isfinite(x):
        return "–"
    ax = abs(x)
    if ax >= 100 or float(x).is_integer():
        return f"{x:,.0f}"
    if ax >= 10:
        return f"{x:,.1f}".rstrip("0").rstrip(".")
    return f"{x:.3g}"


def attrs(**kw) -> str:
    """Attributes from keywords (``class_`` -> ``class``, ``aria_label`` -> ``aria-label``); None dropped."""
    out = []
    for k, v in kw.items():
        if v is None or v == "":
            continue
        name = k.rstrip("_").replace("_", "-")
        out.append(f' {name}="{esc(v)}"')
    return "".join(out)


def text(x: float, y: float, content, *, size: float = 11, anchor: str = "start", weight: str | None = None,
         fill: str = "#222", rotate: float | None = None, halo: bool = False, cls: str | None = None) -> str:
    transform = f"rotate({num(rotate)} {num(x)} {num(y)})" if rotate is not None else None
    # presentation attributes, not style=: a page's Content-Security-Policy (style-src 'self') drops inline styles
    halo_attrs = {"paint_order": "stroke", "stroke": "#fff", "stroke_width": "3", "stroke_linejoin": "round"} if halo else {}
    return (f"<text{attrs(x=num(x), y=num(y), font_size=num(size), text_anchor=anchor, font_weight=weight, fill=colour(fill), transform=transform, **halo_attrs, class_=cls)}>"
            f"{esc(content)}</text>")


def chart_ids(kind: str, *parts) -> tuple[str, str]:
    """Deterministic ids for <title>/<desc> (same data, same ids; different charts, different ids)."""
    h = hashlib.sha1("\x1f".join(map(str, (kind, *parts))).encode("utf-8")).hexdigest()[:10]
    return f"{kind}-{h}-title", f"{kind}-{h}-desc"


def svg_document(width: float, height: float, title: str, desc: str, body: list[str], *, kind: str,
                 id_seed=()) -> str:
    """An accessible SVG element: role=img, labelled by its <title> and described by its <desc>."""
    tid, did = chart_ids(kind, title, desc, *id_seed)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{num(width)}" height="{num(height)}" '
            f'viewBox="0 0 {num(width)} {num(height)}" role="img" aria-labelledby="{tid}" aria-describedby="{did}" '
            f'font-family="{esc(FONT_FAMILY)}">'
            f'<title id="{tid}">{esc(title)}</title><desc id="{did}">{esc(desc)}</desc>'
            + "".join(body) + "</svg>")
