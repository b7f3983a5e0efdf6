"""The HTML layer: what the report and cohort pages share.

Escaping (:func:`escape`: every value that comes from an input file or argument
goes through it), number formatting (:func:`fmt`) and table cells
(:func:`num_td`, :func:`td`, :func:`th`), short variant ids for people
(:func:`display_variant_id`, :func:`variant_html`, :func:`variant_td`), CSS
class names from text (:func:`css_class`), an inline-SVG bar chart with axis
titles (:func:`bar_chart`), the scrolling table wrapper (:func:`scroll_table`),
the table of contents (:func:`table_of_contents`), natural chromosome order
(:func:`chromosome_key`, :func:`variant_sort_key`) and the inline style sheet
(:data:`CSS`). Nothing here reads files or refers to an external resource; the
same arguments give the same text.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
from typing import Any

import pandas as pd

from neorank.vcf import ID_HASH_CHARS, make_variant_id

#: The pages' inline style sheet (report and cohort). Tables sit in ``.scroll``
#: wrappers (:func:`scroll_table`): a table wider than the window scrolls inside
#: its wrapper, never the page; ``.tall`` wrappers also scroll vertically, so their
#: sticky header row stays in view. ``.key1``-``.key3`` are the sticky first columns
#: of the top-candidates table (the third only from 700 px on).
CSS = """
:root { --fg: #1d232b; --muted: #5b6673; --line: #d5dbe2; --bg: #ffffff; --soft: #f3f5f8;
  --ok: #1e7b3c; --warn: #9a6200; --bad: #a3262e; --accent: #2f5f9e; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--fg); background: var(--bg); }
main { max-width: 1200px; margin: 0 auto; padding: 16px 20px 48px; }
h1 { font-size: 22px; margin: 8px 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line);
  padding-bottom: 4px; }
section { scroll-margin-top: 8px; }
a { color: var(--accent); }
nav.toc { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; margin: 10px 0;
  background: var(--soft); font-size: 13px; }
nav.toc strong { margin-right: 8px; }
nav.toc ol { display: inline; list-style: none; margin: 0; padding: 0; }
nav.toc li { display: inline-block; margin: 0 12px 0 0; white-space: nowrap; }
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
.s-info { color: var(--muted); }
.s-info::before { content: "\\2139\\FE0E  "; color: var(--accent); }
.scroll { overflow-x: auto; max-width: 100%; margin: 6px 0; }
.scroll > table { margin: 0; }
.scroll.tall { max-height: 78vh; overflow-y: auto; border: 1px solid var(--line); }
table { border-collapse: separate; border-spacing: 0; width: 100%; margin: 6px 0;
  font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 6px; text-align: left;
  vertical-align: top; }
th { background: var(--soft); white-space: nowrap; }
th.wrap { white-space: normal; min-width: 6.5em; }
thead th { position: sticky; top: 0; z-index: 2; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.mono { white-space: nowrap; }
.key1, .key2, .key3 { position: sticky; z-index: 1; background: var(--bg); }
thead .key1, thead .key2, thead .key3 { z-index: 3; background: var(--soft); }
.key1 { left: 0; width: 4.5rem; min-width: 4.5rem; }
.key2 { left: 4.5rem; width: 7.5rem; min-width: 7.5rem; box-shadow: inset -1px 0 var(--line); }
.key2 .clip { display: block; max-width: 6.5rem; overflow: hidden; text-overflow: ellipsis;
  white-space: nowrap; }
@media (min-width: 700px) {
  .key2 { box-shadow: none; }
  .key3 { left: 12rem; width: 9rem; min-width: 9rem; box-shadow: inset -1px 0 var(--line); }
}
@media (max-width: 699px) { .key3 { position: static; } }
table.sticky-first td:first-child, table.sticky-first th:first-child { position: sticky;
  left: 0; z-index: 1; background: var(--bg); box-shadow: inset -1px 0 var(--line); }
table.sticky-first thead th:first-child { z-index: 3; background: var(--soft); }
th button { all: unset; cursor: pointer; }
th button::after { content: " \\2195"; color: var(--muted); }
th[aria-sort="ascending"] button::after { content: " \\2191"; }
th[aria-sort="descending"] button::after { content: " \\2193"; }
.mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
mark { background: #ffe08a; padding: 0; }
dl.prov { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dl.prov dt { color: var(--muted); } dl.prov dd { margin: 0; overflow-wrap: anywhere; min-width: 0; }
details { border: 1px solid var(--line); border-radius: 4px; margin: 4px 0; padding: 2px 8px; }
details > summary { cursor: pointer; padding: 2px 0; overflow-wrap: anywhere; }
td.hit { font-weight: 700; color: var(--ok); }
.seq { font-family: ui-monospace, Menlo, Consolas, monospace; overflow-wrap: anywhere;
  word-break: break-all; background: var(--soft); padding: 6px 8px; border-radius: 4px; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
.plots figure { margin: 0; max-width: 100%; } .plots figcaption { color: var(--muted); font-size: 12px; }
figure { margin: 0; max-width: 100%; }
svg { max-width: 100%; height: auto; }
.bar { display: inline-block; height: 10px; background: var(--accent); vertical-align: middle; }
td.barcell { width: min(300px, 30vw); }
.filter { margin: 6px 0; padding: 4px 8px; width: 320px; max-width: 100%; }
.count { color: var(--muted); margin-left: 8px; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; }
@media (max-width: 600px) { main { padding: 12px 12px 40px; } h1 { font-size: 19px; }
  .filter { width: 62%; } }
@media print { .filter, th button::after, nav.toc { display: none; }
  .scroll, .scroll.tall { overflow: visible; max-height: none; } }
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


def num_td(value: Any, spec: str, title: str | None = None, cls: str | None = None) -> str:
    """Numeric cell: formatted text plus an exact ``data-v`` sort key (``cls``: more
    CSS classes)."""
    number = _float(value)
    attrs = f' class="n {cls}"' if cls else ' class="n"'
    if number is not None:
        attrs += f' data-v="{number:.12g}"'
    if title:
        attrs += f' title="{escape(title)}"'
    return f"<td{attrs}>{fmt(value, spec)}</td>"


def td(value: Any, cls: str | None = None, na: str = "NA") -> str:
    """Text cell (escaped; missing -> ``na``)."""
    attr = f' class="{cls}"' if cls else ""
    return f"<td{attr}>{escape(value, na)}</td>"


def th(label: str, numeric: bool = False, sortable: bool = True, cls: str | None = None,
       title: str | None = None) -> str:
    """Header cell; a sortable one has the button and data type the report's script uses
    (``cls``: more CSS classes; ``title``: what the column means, on hover)."""
    classes = " ".join(c for c in ("n" if numeric else "", cls or "") if c)
    cls = f' class="{classes}"' if classes else ""
    if title:
        cls += f' title="{escape(title)}"'
    kind = ' data-type="num"' if numeric else ' data-type="text"'
    if not sortable:
        return f"<th{cls}>{html.escape(label)}</th>"
    return (f'<th{cls}{kind} aria-sort="none"><button type="button">{html.escape(label)}'
            "</button></th>")


def css_class(text: str) -> str:
    """``text`` as a CSS class name part (lower case, other than letters and digits -> ``-``)."""
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower())


def scroll_table(table: str, tall: bool = False) -> str:
    """``table`` (its HTML) in a ``.scroll`` wrapper: wider than the window, it scrolls
    sideways inside the wrapper, not the page; ``tall`` also caps its height so the
    sticky header row stays in view while its rows scroll."""
    cls = "scroll tall" if tall else "scroll"
    return f"<div class=\"{cls}\">{table}</div>"


_LONG_ID = re.compile(r"^(?P<chrom>.+):(?P<pos>\d+):(?P<ref>[A-Za-z*.-]*)>(?P<alt>[A-Za-z*.-]*)$")
_LOCUS = re.compile(r"^(?P<chrom>.+):(?P<pos>\d+):")


def display_variant_id(variant_id: Any) -> str:
    """``variant_id`` as people read it: NeoRank's ids are already short
    (:func:`neorank.vcf.make_variant_id`) and come back unchanged; a full
    ``chrom:pos:REF>ALT`` with long alleles (a table from before short ids, or
    another tool's) is shortened the same way. Other text longer than 40
    characters is cut with a hash suffix; missing -> ``NA``."""
    if is_missing(variant_id):
        return "NA"
    text = str(variant_id)
    match = _LONG_ID.match(text)
    if match is not None:
        return make_variant_id(match["chrom"], int(match["pos"]), match["ref"], match["alt"])
    if len(text) <= 40:
        return text
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:ID_HASH_CHARS]
    return f"{text[:24]}..#{digest}"


def variant_html(variant_id: Any) -> str:
    """The displayed id in a ``<span class="mono">``; shortened ids carry the full one in
    ``title`` (hover, and the report's row filter reads it)."""
    shown = display_variant_id(variant_id)
    title = "" if is_missing(variant_id) or shown == str(variant_id) else \
        f" title=\"{escape(variant_id)}\""
    return f"<span class=\"mono\"{title}>{escape(shown)}</span>"


def variant_td(variant_id: Any) -> str:
    """Table cell of a variant id (:func:`variant_html`); sorts on the full id."""
    sort = "" if is_missing(variant_id) else f" data-v=\"{escape(variant_id)}\""
    return f"<td class=\"mono\"{sort}>{variant_html(variant_id)}</td>"


_CHROM_NAMES = {"X": 23, "Y": 24, "M": 25, "MT": 25}


def chromosome_key(chrom: Any) -> tuple[int, int, str]:
    """Sort key for natural chromosome order: 1, 2, ..., 22, X, Y, M (with or without a
    ``chr`` prefix), then any other contig by name."""
    text = "" if is_missing(chrom) else str(chrom)
    name = text[3:] if text.lower().startswith("chr") else text
    if name.isdigit():
        return (0, int(name), "")
    if name.upper() in _CHROM_NAMES:
        return (0, _CHROM_NAMES[name.upper()], "")
    return (1, 0, text)


def variant_sort_key(variant_id: Any) -> tuple[tuple[int, int, str], int, str]:
    """Sort key of a ``chrom:pos:...`` variant id: natural chromosome order, then
    position, then the id (ids of another form sort after, by text)."""
    text = "" if is_missing(variant_id) else str(variant_id)
    match = _LOCUS.match(text)
    if match is None:
        return ((2, 0, text), 0, text)
    return (chromosome_key(match["chrom"]), int(match["pos"]), text)


_SECTION = re.compile(r'<section id="([^"]+)">\n?<h2>([^<]*)</h2>')


def table_of_contents(content: str, labels: dict[str, str] | None = None) -> str:
    """A ``<nav class="toc">`` linking (``#id``) to every ``<section id>`` of
    ``content`` (HTML) in order, named by ``labels`` or else by its heading."""
    labels = labels or {}
    items = "".join(
        f"<li><a href=\"#{section_id}\">{labels.get(section_id, heading)}</a></li>"
        for section_id, heading in _SECTION.findall(content))
    return ("<nav class=\"toc\" aria-label=\"Contents\"><strong>Contents</strong>"
            f"<ol>{items}</ol></nav>\n")


def bar_chart(items: list[tuple[str, int]], label: str, colour: str = "#2f5f9e", *,
              x_title: str | None = None, y_title: str | None = None) -> str:
    """Horizontal bars with escaped labels (``items`` already ordered), scaled to the
    container's width; ``x_title`` names what the bars count (below the bars),
    ``y_title`` what the rows are (above the labels)."""
    if not items:
        return f"<p class=\"sub\">{html.escape(label)}: none.</p>"
    top = max(max(n for _, n in items), 1)
    label_w, bar_w, row_h = 150, 260, 20
    head = 18 if y_title else 0
    foot = 22 if x_title else 0
    width = label_w + bar_w + 50
    height = head + row_h * len(items) + 10 + foot
    parts = [f"<svg role=\"img\" aria-label=\"{html.escape(label)}\" "
             f"width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">"]
    if y_title:
        parts.append(f"<text x=\"{label_w - 6}\" y=\"13\" text-anchor=\"end\" font-size=\"12\" "
                     f"font-weight=\"600\">{html.escape(y_title)}</text>")
    for index, (name, count) in enumerate(items):
        y = head + 5 + index * row_h
        bar = max(1, round(bar_w * count / top)) if count else 0
        parts.append(
            f"<text x=\"{label_w - 6}\" y=\"{y + 14}\" text-anchor=\"end\" font-size=\"12\">"
            f"{escape(name)}</text><rect x=\"{label_w}\" y=\"{y + 3}\" width=\"{bar}\" "
            f"height=\"{row_h - 6}\" fill=\"{colour}\"><title>{escape(name)}: {count}</title></rect>"
            f"<text x=\"{label_w + bar + 6}\" y=\"{y + 14}\" font-size=\"12\">{count}</text>")
    if x_title:
        axis_y = head + row_h * len(items) + 8
        parts.append(f"<line x1=\"{label_w}\" x2=\"{label_w + bar_w}\" y1=\"{axis_y}\" "
                     f"y2=\"{axis_y}\" stroke=\"#8a94a0\"/>"
                     f"<text x=\"{label_w + bar_w / 2:g}\" y=\"{height - 4}\" "
                     f"text-anchor=\"middle\" font-size=\"12\" font-weight=\"600\">"
                     f"{html.escape(x_title)}</text>")
    parts.append("</svg>")
    return "".join(parts)
