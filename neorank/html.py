"""The HTML layer: what the report and cohort pages share.

Escaping (:func:`escape`: every value that comes from an input file or argument
goes through it), number formatting (:func:`fmt`) and table cells
(:func:`num_td`, :func:`td`, :func:`th`), CSS class names from text
(:func:`css_class`), an inline-SVG bar chart (:func:`bar_chart`) and the inline
style sheet (:data:`CSS`). Nothing here reads files or refers to an external
resource; the same arguments give the same text.
"""

from __future__ import annotations

import html
import math
from typing import Any

import pandas as pd

#: The pages' inline style sheet (report and cohort).
CSS = """
:root { --fg: #1d232b; --muted: #5b6673; --line: #d5dbe2; --bg: #ffffff; --soft: #f3f5f8;
  --ok: #1e7b3c; --warn: #9a6200; --bad: #a3262e; --accent: #2f5f9e; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); }
main { max-width: 1200px; margin: 0 auto; padding: 16px 20px 48px; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line);
  padding-bottom: 4px; }
.sub { color: var(--muted); margin: 0 0 12px; }
.box { border: 1px solid var(--line); border-radius: 6px; padding: 10px 14px; margin: 10px 0; }
.disclaimer { background: var(--soft); }
.demo { border: 3px solid var(--bad); background: #fdeced; color: var(--bad);
  font-weight: 700; }
.demo p { font-weight: 400; color: var(--fg); margin: 4px 0 0; }
.note { border-left: 4px solid var(--warn); background: #fff7e6; }
.verdict { display: inline-block; font-size: 20px; font-weight: 700; padding: 4px 12px;
  border-radius: 4px; color: #fff; text-transform: uppercase; letter-spacing: .03em; }
.v-eligible { background: var(--ok); } .v-borderline { background: var(--warn); }
.v-not-supported { background: var(--bad); }
.s-pass { color: var(--ok); font-weight: 600; } .s-fail { color: var(--bad); font-weight: 600; }
.s-not-assessed { color: var(--muted); font-style: italic; }
table { border-collapse: collapse; width: 100%; margin: 6px 0; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 6px; text-align: left;
  vertical-align: top; }
th { background: var(--soft); white-space: nowrap; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
th button { all: unset; cursor: pointer; }
th button::after { content: " \\2195"; color: var(--muted); }
th[aria-sort="ascending"] button::after { content: " \\2191"; }
th[aria-sort="descending"] button::after { content: " \\2193"; }
.mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
mark { background: #ffe08a; padding: 0; }
dl.prov { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dl.prov dt { color: var(--muted); } dl.prov dd { margin: 0; overflow-wrap: anywhere; }
details { border: 1px solid var(--line); border-radius: 4px; margin: 4px 0; padding: 2px 8px; }
details > summary { cursor: pointer; padding: 2px 0; }
td.hit { font-weight: 700; color: var(--ok); }
.seq { font-family: ui-monospace, Menlo, Consolas, monospace; overflow-wrap: anywhere;
  word-break: break-all; background: var(--soft); padding: 6px 8px; border-radius: 4px; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
.plots figure { margin: 0; } .plots figcaption { color: var(--muted); font-size: 12px; }
.bar { display: inline-block; height: 10px; background: var(--accent); vertical-align: middle; }
.filter { margin: 6px 0; padding: 4px 8px; width: 320px; max-width: 100%; }
.count { color: var(--muted); margin-left: 8px; }
.scroll { overflow-x: auto; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; }
@media print { .filter, th button::after { display: none; } }
""".strip()


def is_missing(value: Any) -> bool:
    """None, NaN, NA or NaT (values ``pd.isna`` cannot judge are not missing)."""
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def escape(value: Any, na: str = "NA") -> str:
    """Escape any value for HTML text or attribute use (missing -> ``na``)."""
    if is_missing(value):
        return html.escape(na)
    return html.escape(str(value), quote=True)


def _float(value: Any) -> float | None:
    """``value`` as a float; None when missing, not a number or NaN."""
    if is_missing(value):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def fmt(value: Any, spec: str) -> str:
    """``value`` as a number formatted with ``spec``; ``NA`` when it is not a number."""
    number = _float(value)
    return "NA" if number is None else format(number, spec)


def num_td(value: Any, spec: str, title: str | None = None) -> str:
    """Numeric cell: formatted text plus an exact ``data-v`` sort key."""
    number = _float(value)
    attrs = ' class="n"'
    if number is not None:
        attrs += f' data-v="{number:.12g}"'
    if title:
        attrs += f' title="{escape(title)}"'
    return f"<td{attrs}>{fmt(value, spec)}</td>"


def td(value: Any, cls: str | None = None, na: str = "NA") -> str:
    """Text cell (escaped; missing -> ``na``)."""
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{escape(value, na)}</td>"


def th(label: str, numeric: bool = False, sortable: bool = True) -> str:
    """Header cell; a sortable one has the button and data type the report's script uses."""
    cls = ' class="n"' if numeric else ""
    kind = ' data-type="num"' if numeric else ' data-type="text"'
    if not sortable:
        return f"<th{cls}>{html.escape(label)}</th>"
    return (f'<th{cls}{kind} aria-sort="none"><button type="button">{html.escape(label)}'
            "</button></th>")


def css_class(text: str) -> str:
    """``text`` as a CSS class name part (lower case, other than letters and digits -> ``-``)."""
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower())


def bar_chart(items: list[tuple[str, int]], label: str, colour: str = "#2f5f9e") -> str:
    """Horizontal bars with escaped labels (``items`` already ordered)."""
    if not items:
        return f"<p class=\"sub\">{html.escape(label)}: none.</p>"
    top = max(max(n for _, n in items), 1)
    label_w, bar_w, row_h = 150, 260, 20
    height = row_h * len(items) + 10
    parts = [f"<svg role=\"img\" aria-label=\"{html.escape(label)}\" "
             f"width=\"{label_w + bar_w + 50}\" height=\"{height}\" "
             f"viewBox=\"0 0 {label_w + bar_w + 50} {height}\">"]
    for index, (name, count) in enumerate(items):
        y = 5 + index * row_h
        width = max(1, round(bar_w * count / top)) if count else 0
        parts.append(
            f"<text x=\"{label_w - 6}\" y=\"{y + 14}\" text-anchor=\"end\" font-size=\"12\">"
            f"{escape(name)}</text><rect x=\"{label_w}\" y=\"{y + 3}\" width=\"{width}\" "
            f"height=\"{row_h - 6}\" fill=\"{colour}\"><title>{escape(name)}: {count}</title></rect>"
            f"<text x=\"{label_w + width + 6}\" y=\"{y + 14}\" font-size=\"12\">{count}</text>")
    parts.append("</svg>")
    return "".join(parts)
