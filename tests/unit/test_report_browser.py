"""The HTML report in a real browser: headless Chromium (Debian `chromium`).

Runs where Chromium exists (.ci/run installs it when it can); skipped otherwise.
Checks that the inline script runs to its end without console errors (it marks
the body with ``data-ready``), that the candidate table, plots, drill-down and
vaccine design render, and that no input text executes as script.
"""

import re
import shutil
import subprocess

import pytest
from test_report import EVIL, _write_inputs, _write_vaccine

from neorank import report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed")]


def test_report_renders_in_headless_chromium(tmp_path):
    args = _write_vaccine(tmp_path, _write_inputs(tmp_path))
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
