"""The preflight report: findings collected from every check, one TSV row each."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

#: Columns of ``results/preflight/{sample}.tsv``.
REPORT_COLUMNS = ["severity", "check", "file", "record", "message", "fix"]
ERROR, WARNING, INFO = "error", "warning", "info"
#: Findings of one check in one file listed individually; the rest are summarised.
MAX_ROWS_PER_CHECK = 20


@dataclass
class Finding:
    """One row of the preflight report."""

    severity: str
    check: str
    file: str
    record: str
    message: str
    fix: str


@dataclass
class Report:
    """Findings in the order they were made; at most MAX_ROWS_PER_CHECK per check and file."""

    findings: list[Finding] = field(default_factory=list)
    _counts: Counter = field(default_factory=Counter)
    _summarised: set = field(default_factory=set)

    def add(self, severity: str, check: str, message: str, *, file: Any = "", record: str = "",
            fix: str = "") -> None:
        key = (severity, check, str(file))
        self._counts[key] += 1
        if self._counts[key] <= MAX_ROWS_PER_CHECK:
            self.findings.append(Finding(severity, check, str(file), record, message, fix))

    def error(self, check: str, message: str, **kwargs: Any) -> None:
        self.add(ERROR, check, message, **kwargs)

    def warning(self, check: str, message: str, **kwargs: Any) -> None:
        self.add(WARNING, check, message, **kwargs)

    def info(self, check: str, message: str, **kwargs: Any) -> None:
        self.add(INFO, check, message, **kwargs)

    def finish(self) -> None:
        """Add one summary row per check whose findings were cut."""
        for key, count in list(self._counts.items()):
            if count > MAX_ROWS_PER_CHECK and key not in self._summarised:
                severity, check, file = key
                self._summarised.add(key)
                self.findings.append(Finding(
                    severity, check, file, "",
                    f"... and {count - MAX_ROWS_PER_CHECK} more '{check}' {severity}s like the "
                    "ones above", "fix the ones above the same way"))

    def count(self, severity: str) -> int:
        return sum(n for (s, _, _), n in self._counts.items() if s == severity)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    def has_error(self, file: Any = None) -> bool:
        return any(f.severity == ERROR and (file is None or f.file == str(file))
                   for f in self.findings)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([asdict(f) for f in self.findings], columns=REPORT_COLUMNS)


def read_caveats(path: Any) -> list[Finding]:
    """The warnings of a written preflight report (``results/preflight/{sample}.tsv``), in
    report order: what the sample report can show as the run's caveats (inputs that were
    read, but with something lost, filtered or suspicious: an empty normal column, AD above
    DP, REF mismatches, untyped HLA loci, ...). A missing file gives ``[]``."""
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        return []
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    if list(frame.columns) != REPORT_COLUMNS:
        return []
    return [Finding(**row) for row in frame.to_dict("records") if row["severity"] == WARNING]
