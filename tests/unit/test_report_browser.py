"""The HTML report and the cohort page in a real browser: headless Chromium (Debian
`chromium`), driven through the DevTools protocol over a pipe (no extra package).

Runs where Chromium exists (.ci/run installs it when it can); skipped otherwise.
Checks that the inline script runs to its end without console errors (it marks
the body with ``data-ready``), that the candidate table, plots, drill-down and
vaccine design render, that no input text executes as script, and the layout a
reviewer gets at a phone width (390 px) and a desktop width (1400 px): no
horizontal page overflow, every table either fits or scrolls inside its own
container, the key columns and the table headers stay in view while scrolling.

Run as a script it saves screenshots (``make report-screenshots``)::

    python tests/unit/test_report_browser.py --out docs/img --prefix after \\
        results/osteosarc-paired/report.html results/cohort.html
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: Viewport widths checked: a phone and a desktop.
WIDTHS = (390, 1400)
HEIGHTS = {390: 844, 1400: 900}

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed")]


class DevTools:
    """A headless Chromium driven through the DevTools protocol over
    ``--remote-debugging-pipe`` (file descriptors 3 and 4, NUL-separated JSON)."""

    def __init__(self, profile: str | os.PathLike, timeout: float = 60.0) -> None:
        self.timeout = timeout
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def wire() -> None:  # in the child: its fd 3 reads, fd 4 writes
            # Copies first: a pipe end may already be fd 3 or 4 (and close on exec).
            reader, writer = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(reader, 3)
            os.dup2(writer, 4)
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire, close_fds=False)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.session: str | None = None

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_chrome], [], [], left)[0]:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: bool = True) -> dict:
        """Send one command (to the page's session unless ``session`` is False) and
        return its result; events that arrive meanwhile are kept in :attr:`events`."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            for index, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(index)
            self.events.append(self._read_message(deadline))

    def open_page(self, width: int, height: int) -> None:
        """A new tab of ``width`` x ``height`` CSS pixels, attached as the session."""
        target = self.call("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.call("Target.attachToTarget",
                             {"targetId": target["targetId"], "flatten": True}, session=False)
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1,
                   "mobile": width < 600})

    def load(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired")

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression,
                                                "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def screenshot(self, path: str | os.PathLike) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        Path(path).write_bytes(base64.b64decode(data))

    def console_errors(self) -> list[str]:
        """Console errors and exceptions seen since the last :meth:`load`."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                found.append(json.dumps(params.get("args", []))[:500])
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                found.append(params["entry"].get("text", ""))
        return found

    def close(self) -> None:
        try:
            self.call("Browser.close", session=False)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_chrome, self._from_chrome):
            os.close(fd)


#: The layout facts the tests check, measured in the page with every <details> open.
LAYOUT_JS = r"""
(() => {
  document.querySelectorAll("details").forEach(d => { d.open = true; });
  const root = document.documentElement;
  const view = root.clientWidth;
  const scroller = el => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const o = getComputedStyle(p).overflowX;
      if (o === "auto" || o === "scroll") { return p; }
    }
    return null;
  };
  const tables = Array.from(document.querySelectorAll("table")).map((t, i) => {
    const box = t.getBoundingClientRect();
    const s = scroller(t);
    const sb = s ? s.getBoundingClientRect() : null;
    const first = t.tHead && t.tHead.rows[0] ? t.tHead.rows[0].cells[0] : null;
    return {
      index: i, id: t.id || (t.closest("section") || {}).id || "",
      width: Math.round(box.width), fits: box.left >= -0.5 && box.right <= view + 0.5,
      scroller: !!s, scrollerFits: sb ? sb.left >= -0.5 && sb.right <= view + 0.5 : null,
      scrollable: s ? s.scrollWidth > s.clientWidth : false,
      headerPosition: first ? getComputedStyle(first).position : null,
    };
  });
  const sticky = id => {
    const t = document.getElementById(id);
    if (!t) { return null; }
    const row = t.tBodies[0] && t.tBodies[0].rows[0];
    return row ? Array.from(row.cells).map(c => getComputedStyle(c).position) : [];
  };
  const svgs = Array.from(document.querySelectorAll("svg")).map(s => {
    const b = s.getBoundingClientRect();
    return {label: s.getAttribute("aria-label"), right: Math.round(b.right),
            fits: b.right <= view + 0.5};
  });
  return {scrollWidth: root.scrollWidth, clientWidth: view, innerWidth: window.innerWidth,
          tables: tables, svgs: svgs, stickyTop: sticky("top-candidates"),
          ready: document.body.getAttribute("data-ready")};
})()
"""


def _layout_problems(layout: dict) -> list[str]:
    problems = []
    if layout["scrollWidth"] > layout["innerWidth"]:
        problems.append(f"page overflows: scrollWidth {layout['scrollWidth']} > window "
                        f"{layout['innerWidth']}")
    for table in layout["tables"]:
        if not table["fits"] and not (table["scroller"] and table["scrollerFits"]):
            problems.append(f"table {table['index']} ({table['id']}) is {table['width']} px wide, "
                            "outside the window and not in a scroll container that fits")
    for svg in layout["svgs"]:
        if not svg["fits"]:
            problems.append(f"plot {svg['label']!r} ends at {svg['right']} px")
    return problems


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    devtools = DevTools(tmp_path_factory.mktemp("chromium-profile"))
    yield devtools
    devtools.close()


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """A report (with the vaccine design and a 755-residue deletion among the
    candidates) and a cohort page of two samples, as ``neorank report`` and
    ``neorank cohort`` write them."""
    from test_cohort import _write as write_cohort
    from test_report import _write_inputs, _write_vaccine, long_deletion_inputs

    from neorank import cohort, report

    tmp_path = tmp_path_factory.mktemp("pages")
    args = _write_vaccine(tmp_path, _write_inputs(tmp_path))
    long_deletion_inputs(args)
    assert report.run(args) == 0
    cohort_dir = tmp_path_factory.mktemp("cohort")
    cohort_args = write_cohort(cohort_dir)
    assert cohort.run(cohort_args) == 0
    return {"report": Path(args.out), "cohort": Path(cohort_args.out)}


def test_report_renders_in_headless_chromium(tmp_path, pages):
    from test_report import EVIL

    result = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
         "--v=0", "--virtual-time-budget=3000", "--dump-dom", pages["report"].as_uri()],
        capture_output=True, text=True, timeout=120)
    dom = result.stdout
    assert "<table" in dom, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line]
    assert not [line for line in console
                if re.search(r"error|uncaught|content security policy", line, re.I)], console
    # The inline script ran to its end (it marks the body), so the CSP hash matched.
    assert re.search(r'<body[^>]*data-ready="true"', dom), result.stderr[-2000:]
    assert dom.count("<button") >= 5
    # Plots, drill-down and vaccine design are in the rendered DOM.
    assert dom.count("<svg") >= 4 and dom.count("<details") == 3
    assert 'id="vaccine-peptides"' in dom
    # The candidate table rendered with rows, and escaped text stayed text.
    assert re.search(r"<tbody>\s*<tr", dom)
    assert EVIL not in dom


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["report", "cohort"])
def test_no_page_overflow_and_every_table_reachable(browser, pages, name, width):
    """At 390 px and 1400 px the page never scrolls sideways, and each table fits
    or scrolls inside a container that fits (so every column can be reached)."""
    browser.open_page(width, HEIGHTS[width])
    browser.load(pages[name].as_uri())
    layout = browser.evaluate(LAYOUT_JS)
    assert layout["innerWidth"] == width
    assert not _layout_problems(layout), (_layout_problems(layout), layout)
    assert layout["tables"], "no table measured"
    assert not browser.console_errors(), browser.console_errors()
    if name == "report":
        assert layout["ready"] == "true"  # the inline script ran (CSP hash matched)
        # Headers stay in view while a table scrolls; rank, candidate, gene, peptide,
        # allele stay at the left while the top table scrolls sideways.
        top = [t for t in layout["tables"] if t["id"] == "top-candidates"]
        assert top and top[0]["headerPosition"] == "sticky"
        assert layout["stickyTop"][:2] == ["sticky", "sticky"]
        if width == 390:  # the candidate table is wider than a phone: it scrolls in place
            assert top[0]["scroller"] and top[0]["scrollable"]


def test_filter_finds_a_row_by_its_full_variant_id(browser, pages):
    """The row filter also reads title attributes: the full id of a variant shown
    shortened finds its row."""
    from test_report import LONG_DELETION

    browser.open_page(1400, 900)
    browser.load(pages["report"].as_uri())
    shown = browser.evaluate(
        "(() => { const input = document.querySelector('input[data-filter=\"variant-summary\"]');"
        f" input.value = {json.dumps(LONG_DELETION)};"
        " input.dispatchEvent(new Event('input'));"
        " return [document.getElementById('variant-summary-count').textContent,"
        " Array.from(document.querySelectorAll('#variant-summary tbody tr'))"
        ".filter(r => !r.hidden).map(r => r.cells[0].textContent)]; })()")
    assert shown[0].startswith("1 of ") and shown[1] == ["2:209113112:del755"]


def test_table_of_contents_links_every_section(browser, pages):
    browser.open_page(1400, 900)
    browser.load(pages["report"].as_uri())
    links = browser.evaluate(
        "Array.from(document.querySelectorAll('nav.toc a')).map(a => a.getAttribute('href'))")
    ids = browser.evaluate(
        "Array.from(document.querySelectorAll('main section[id]')).map(s => '#' + s.id)")
    assert links and set(links) == set(ids)
    # Following a link scrolls its section to the top (under the sticky bar).
    top = browser.evaluate(
        "(() => { location.hash = '#candidates';"
        " return document.getElementById('candidates').getBoundingClientRect().top; })()")
    assert 0 <= top < 120


# --------------------------------------------------------------------------- screenshots


#: What a reviewer sees: (file part, page, section scrolled to or None, script run
#: before the shot or None). The last one scrolls the top-candidates table sideways:
#: its key columns stay.
SHOTS = (("report", "report", None, None),
         ("report-candidates", "report", "candidates", None),
         ("report-candidates-scrolled", "report", "candidates",
          "document.getElementById('top-candidates').parentElement.scrollLeft = 400"),
         ("cohort", "cohort", None, None))


def save_screenshots(report: Path, cohort: Path, out: Path, prefix: str) -> list[Path]:
    """PNGs of one screen per page and width: ``<out>/<prefix>-<shot>-<width>.png``."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as profile:
        devtools = DevTools(profile)
        try:
            for width in WIDTHS:
                for shot, page, section, script in SHOTS:
                    devtools.open_page(width, HEIGHTS[width])
                    devtools.load((report if page == "report" else cohort).resolve().as_uri())
                    if section:
                        devtools.evaluate(f"document.getElementById('{section}')"
                                          ".scrollIntoView({block: 'start'})")
                    if script:
                        devtools.evaluate(script)
                    path = out / f"{prefix}-{shot}-{width}.png"
                    devtools.screenshot(path)
                    written.append(path)
        finally:
            devtools.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Screenshots of report.html and cohort.html "
                                     f"at {' and '.join(map(str, WIDTHS))} px")
    parser.add_argument("report", type=Path)
    parser.add_argument("cohort", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    parser.add_argument("--prefix", default="report")
    args = parser.parse_args(argv)
    if CHROMIUM is None:
        print("chromium not found (apt-get install chromium)", file=sys.stderr)
        return 1
    for path in save_screenshots(args.report, args.cohort, args.out, args.prefix):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
