"""The HTML report in a real browser: headless Chromium (Debian `chromium`).

Runs where Chromium exists (.ci/run installs it when it can); skipped otherwise.
Checks that the inline script runs without console errors (its sort buttons are
added to every table header), that the candidate table renders, and that no
input text executes as script.
"""

import re
import shutil
import subprocess

import pytest
from test_report import EVIL, _write_inputs

from neorank import report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed")]


def test_report_renders_in_headless_chromium(tmp_path):
    args = _write_inputs(tmp_path)
    assert report.run(args) == 0
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr",
         "--v=0", "--virtual-time-budget=3000", "--dump-dom", f"file://{args.out}"],
        capture_output=True, text=True, timeout=120)
    dom = result.stdout
    assert "<table" in dom, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line]
    assert not [line for line in console if re.search(r"error|uncaught", line, re.I)], console
    # The inline script ran: it turns every sortable header into a button.
    assert dom.count("<button") >= 5
    # The candidate table rendered with rows, and escaped text stayed text.
    assert re.search(r"<tbody>\s*<tr", dom)
    assert EVIL not in dom
