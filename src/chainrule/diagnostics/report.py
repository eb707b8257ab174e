"""Finding and Report: what ``diagnose`` found, in plain words, with evidence."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

SEVERITIES = ("error", "warning", "info", "ok")
_ORDER = {s: k for k, s in enumerate(SEVERITIES)}
_MARK = {"error": "ERROR", "warning": "WARN", "info": "info", "ok": "ok"}


@dataclass
class Finding:
    """One diagnosis.

    Attributes:
        kind: a stable key: "vanishing-gradients", "exploding-gradients", "saturation",
            "dead-units", "no-gradient", "symmetry", "non-finite", "lr-too-high",
            "lr-too-low", "underfit", "overfitting", "healthy".
        severity: "error", "warning", "info" or "ok".
        message: what is wrong, in one sentence.
        evidence: the numbers it rests on.
        suggestion: what to try.
        layers: the (1-based) layers concerned, if any.
    """

    kind: str
    severity: str
    message: str
    evidence: str = ""
    suggestion: str = ""
    layers: list = field(default_factory=list)

    def __str__(self):
        lines = [f"[{_MARK[self.severity]}] {self.kind}: {self.message}"]
        if self.evidence:
            lines.append(f"    evidence:   {self.evidence}")
        if self.suggestion:
            lines.append(f"    suggestion: {self.suggestion}")
        return "\n".join(lines)


@dataclass
class Report:
    """The findings for one run, most severe first."""

    findings: list
    summary: str = ""
    run_dir: str | None = None
    # the RunData the findings were read from (for pictures of it); not part of the verdict
    data: object = field(default=None, repr=False, compare=False)

    def __post_init__(self):
        self.findings = sorted(self.findings, key=lambda f: _ORDER[f.severity])

    @property
    def healthy(self) -> bool:
        """True when nothing rated "warning" or "error" was found."""
        return all(f.severity in ("info", "ok") for f in self.findings)

    def kinds(self, severity=None) -> set:
        """The kinds found (optionally only those at ``severity`` or worse)."""
        limit = _ORDER[severity] if severity else len(SEVERITIES)
        return {f.kind for f in self.findings if _ORDER[f.severity] <= limit}

    def __contains__(self, kind):
        return any(f.kind == kind for f in self.findings)

    def to_dict(self) -> dict:
        return {
            "run_dir": self.run_dir,
            "healthy": self.healthy,
            "summary": self.summary,
            "findings": [asdict(f) for f in self.findings],
        }

    def _repr_mimebundle_(self, include=None, exclude=None):
        # late-bound: chainrule.display sits above this layer (DESIGN.md), so it is
        # imported on the first notebook display, never when this module is imported
        from chainrule.display import mimebundle

        return mimebundle(self, include, exclude)

    def __str__(self):
        head = f"diagnosis of {self.run_dir}" if self.run_dir else "diagnosis"
        lines = [head, self.summary] if self.summary else [head]
        lines.append("")
        lines.extend(str(f) for f in self.findings)
        return "\n".join(lines)


__all__ = ["SEVERITIES", "Finding", "Report"]
