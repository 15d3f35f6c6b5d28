"""The one exception tree of loadkit.

Every error loadkit raises on purpose derives from :class:`LoadkitError` and
carries the process exit code the CLI uses for it. Errors a user can cause
(a bad scenario, fault plan, check, baseline, URL or flag) derive from
:class:`ConfigError`; their message is one line naming the file, the field and
the fix, and the CLI prints it without a traceback.

    LoadkitError                 exit 3  something failed while running
    ├── ConfigError              exit 2  bad input: fix the named file/field/flag
    │   ├── ScenarioError                  scenario file
    │   ├── FaultPlanError                 fault definitions
    │   ├── CheckError                     check expressions
    │   ├── BaselineError                  baseline files
    │   └── RunDirError                    missing or unreadable run directory
    ├── TargetError              exit 3  the target could not be started/reached
    ├── FaultError               exit 3  a fault could not be injected or reverted
    └── ChecksFailed             exit 1  the run finished but checks failed
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_CHECKS_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_RUN_FAILED",
    "BaselineError",
    "CheckError",
    "ChecksFailed",
    "ConfigError",
    "FaultError",
    "FaultPlanError",
    "LoadkitError",
    "RunDirError",
    "ScenarioError",
    "TargetError",
    "did_you_mean",
]

EXIT_OK = 0
EXIT_CHECKS_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_RUN_FAILED = 3
EXIT_INTERRUPTED = 130


class LoadkitError(Exception):
    """Root of every error loadkit raises on purpose."""

    exit_code: int = EXIT_RUN_FAILED


class ConfigError(LoadkitError):
    """Bad input a user can fix.

    Built from parts so every message has the same shape::

        scenarios/x.yaml:12: faults[1].at: '3 minutes' is not a duration; write e.g. '30s' or '2m'
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(
        self,
        problem: str,
        *,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.problem = problem
        self.source = source
        self.line = line
        self.field = field
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        where = ""
        if self.source:
            where = self.source if self.line is None else f"{self.source}:{self.line}"
            where += ": "
        field = f"{self.field}: " if self.field else ""
        fix = f"; {self.fix}" if self.fix else ""
        return _one_line(f"{where}{field}{self.problem}{fix}")


def _one_line(text: str) -> str:
    """``text`` with control characters escaped (a value quoted from a file may hold a
    newline): an error message is always one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A :attr:`ConfigError.fix` suggestion: the closest choice, else the list of choices."""
    options = list(choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else f"use one of: {', '.join(options)}"


class ScenarioError(ConfigError):
    """A scenario file is missing, malformed or inconsistent."""


class FaultPlanError(ConfigError):
    """A fault definition is invalid (names the fault and the field)."""


class CheckError(ConfigError):
    """A check expression does not parse or names an unknown metric."""


class BaselineError(ConfigError):
    """A baseline is missing, unreadable or of the wrong shape."""


class RunDirError(ConfigError):
    """A run directory is missing or not a loadkit run directory."""


class TargetError(LoadkitError):
    """The target could not be started or reached."""


class FaultError(LoadkitError):
    """A fault backend failed to inject or revert a fault."""


class ChecksFailed(LoadkitError):
    """The run completed, but one or more checks failed."""

    exit_code = EXIT_CHECKS_FAILED
