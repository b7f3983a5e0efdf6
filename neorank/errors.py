"""Exceptions with actionable messages.

Every error a user can cause names the file, the line or record, and the fix.
They subclass ``ValueError`` so library callers can catch them generically; the
CLI turns them into a one-paragraph usage error instead of a traceback.
"""

from __future__ import annotations


class NeoRankError(ValueError):
    """Base class for input errors. ``str(err)`` is the full message for the user."""

    def __init__(self, problem: str, *, where: str | None = None, fix: str | None = None,
                 causes: list[str] | None = None) -> None:
        self.problem = problem
        self.where = where
        self.fix = fix
        self.causes = list(causes or [])
        super().__init__(self.render())

    def render(self) -> str:
        parts = [f"{self.where}: {self.problem}" if self.where else self.problem]
        if self.causes:
            parts.append("Likely causes:\n" + "\n".join(f"  - {c}" for c in self.causes))
        if self.fix:
            parts.append(f"Fix: {self.fix}")
        return "\n".join(parts)


class InputFileError(NeoRankError):
    """A file is missing, unreadable or malformed."""


class SampleSheetError(NeoRankError):
    """The sample sheet has a bad row or column."""


class AlleleError(NeoRankError):
    """An HLA allele cannot be used for prediction."""


class ReferenceError_(NeoRankError):
    """The reference annotation cannot be loaded or disagrees with the input."""


class ModelError(NeoRankError):
    """MHCflurry models are missing or unusable."""
