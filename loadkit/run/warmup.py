"""The reporter's imports and matplotlib's warm-up, made while the load runs.

``loadkit run`` writes the report in its own process right after the load; the
reporter's imports (pandas, matplotlib: ~1 s) and matplotlib's first-use costs
are paid in a thread during the load instead.
"""

from __future__ import annotations

import contextlib
import importlib
import threading

__all__ = ["REPORT_MODULES", "ReporterImports", "import_reporter"]

REPORT_MODULES = ("loadkit.report.report", "loadkit.report.html", "loadkit.report.junit")


class ReporterImports:
    """Import the reporter (pandas, matplotlib: ~1 s) in a thread while the load runs.

    Then, unless the report has begun, compile the report's template and draw one
    small figure, so that matplotlib's first-use costs (font cache and loading, text
    layout) are paid here too. :meth:`report_begins` stops a warm-up that has not begun and waits
    for one that has (matplotlib figures are drawn by one thread at a time).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._report_began = False
        self._thread = threading.Thread(target=self._run, name="loadkit-import", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        for name in REPORT_MODULES:
            try:
                importlib.import_module(name)
            except Exception:  # the report step imports it again and says what is wrong
                return
        with self._lock, contextlib.suppress(Exception):
            if not self._report_began:
                from loadkit.report import html, plots

                html.warm_up()  # the template compiled
                plots.warm_up()

    def report_begins(self) -> None:
        with self._lock:
            self._report_began = True


def import_reporter() -> None:
    """Import the reporter and warm matplotlib up, in this thread (see ReporterImports)."""
    ReporterImports()._run()
