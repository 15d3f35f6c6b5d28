"""The report's figures (matplotlib, Agg, no pyplot state), as base64 PNG for inline HTML."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter, NullLocator

from loadkit.report.analysis import DISTRIBUTION_PERCENTILES, OVERALL, Analysis, is_count_only
from loadkit.report.phases import FaultWindow

__all__ = ["Plot", "comparison_plot", "composite_plots", "report_plots", "warm_up"]

PALETTE = [
    "#2563eb",
    "#dc2626",
    "#16a34a",
    "#9333ea",
    "#ea580c",
    "#0891b2",
    "#db2777",
    "#65a30d",
    "#4b5563",
    "#ca8a04",
]
FAULT_COLOUR = "#f59e0b"
MAX_ENDPOINT_LINES = 8


@dataclass(frozen=True)
class Plot:
    key: str
    title: str
    png_base64: str
    alt: str


def _figure(rows: int = 1, height: float = 3.2) -> tuple[Figure, list[Axes]]:
    total = height * rows
    figure = Figure(figsize=(10, total), dpi=96)
    # fixed margins (not constrained layout: 5x faster) so that every figure's x axis lines up;
    # the right margin holds outside legends and the failures axis
    figure.subplots_adjust(
        left=0.08, right=0.80, bottom=0.55 / total, top=1 - 0.35 / total, hspace=0.9 / height
    )
    axes = [figure.add_subplot(rows, 1, i + 1) for i in range(rows)]
    for ax in axes:
        ax.grid(True, color="#e5e7eb", linewidth=0.8)
        ax.set_axisbelow(True)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return figure, axes


def _encode(figure: Figure) -> str:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def warm_up() -> None:
    """Draw one small throw-away figure: matplotlib's first-use costs (font cache and
    loading, text layout, log-scale tickers) are then paid by the caller, not the report.

    ``loadkit run`` calls it in a background thread while the load runs."""
    figure, (ax,) = _figure(height=1.0)
    ax.plot([1.0, 10.0], [1.0, 10.0], label="p95", marker="o", markersize=3)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("time since start (s)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    _encode(figure)


def _shade_faults(ax: Axes, faults: list[FaultWindow], label: bool = True) -> None:
    for window in faults:
        ax.axvspan(
            window.start_s,
            max(window.end_s, window.start_s + 0.5),
            color=FAULT_COLOUR,
            alpha=0.18,
            linewidth=0,
        )
        if label:
            ax.annotate(
                window.name,
                xy=(window.start_s, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, -2),
                textcoords="offset points",
                va="top",
                fontsize=8,
                color="#92400e",
            )


def _no_data(ax: Axes, message: str) -> None:
    ax.text(
        0.5,
        0.5,
        message,
        ha="center",
        va="center",
        transform=ax.transAxes,
        color="#6b7280",
        fontsize=11,
    )
    ax.set_xticks([])
    ax.set_yticks([])


def _top_endpoints(analysis: Analysis, composite: bool = False) -> list[str]:
    """The busiest request endpoints (or composite ones): never both on one chart; counts
    without a duration (dropped iterations) on none."""
    names = analysis.composite_endpoints if composite else analysis.request_endpoints
    names = [e for e in names if not is_count_only(e)]
    counts = {e: analysis.stat("run", e, "count") for e in names}
    return sorted(counts, key=lambda e: -counts[e])[:MAX_ENDPOINT_LINES]


def _series_of(analysis: Analysis, endpoint: str) -> pd.DataFrame:
    """One endpoint's rows of ``analysis.series`` (split once per analysis, then cached)."""
    split = analysis.extras.get(_SPLIT_SERIES)
    if not isinstance(split, dict):
        split = {str(name): rows for name, rows in analysis.series.groupby("endpoint", sort=False)}
        analysis.extras[_SPLIT_SERIES] = split
    rows = split.get(endpoint)
    return rows if isinstance(rows, pd.DataFrame) else analysis.series.iloc[:0]


_SPLIT_SERIES = "plots.series_by_endpoint"


def _series_width(analysis: Analysis) -> float:
    """Seconds per point of the series (a long run's series are rolled up)."""
    width = analysis.extras.get("series_width_s")
    return float(width) if isinstance(width, int | float) else analysis.run.interval_s


def _overall(analysis: Analysis, endpoint: str = OVERALL) -> pd.DataFrame:
    """One endpoint's series with a row for every interval: no requests = rate 0, no latency."""
    overall = _series_of(analysis, endpoint).set_index("s")
    if overall.empty:
        return overall.reset_index()
    interval = _series_width(analysis)
    slots = np.arange(0, round(float(overall.index.max()) / interval) + 1) * interval
    full = overall.reindex(np.union1d(slots, overall.index.to_numpy()))
    for column in ("count", "failures", "rate"):
        full[column] = full[column].fillna(0)
    return full.rename_axis("s").reset_index()


def _latency_plot(analysis: Analysis) -> Figure:
    figure, (ax,) = _figure()
    overall = _overall(analysis)
    if overall.empty:
        _no_data(ax, "no requests recorded")
        return figure
    for column, colour in (("p50", PALETTE[2]), ("p95", PALETTE[0]), ("p99", PALETTE[1])):
        ax.plot(overall["s"], overall[column], label=column, color=colour, linewidth=1.2)
    _shade_faults(ax, analysis.faults)
    ax.set_ylabel("latency (ms)")
    ax.set_xlabel("time since start (s)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False, ncols=3)
    return figure


def _endpoint_latency_plot(analysis: Analysis, composite: bool = False) -> Figure:
    figure, (ax,) = _figure()
    endpoints = _top_endpoints(analysis, composite)
    if not endpoints:
        _no_data(ax, "no composite events recorded" if composite else "no requests recorded")
        return figure
    for colour, endpoint in zip(PALETTE, endpoints, strict=False):
        rows = _overall(analysis, endpoint)
        # a gap is an interval without events; a marker shows an event between two gaps
        # (sessions every 2 s, a job now and then), which a line alone would not draw
        ax.plot(rows["s"], rows["p95"], label=endpoint, color=colour, linewidth=1.0,
                marker=".", markersize=3)  # fmt: skip
    _shade_faults(ax, analysis.faults, label=False)
    ax.set_ylabel("p95 latency (ms)")
    ax.set_xlabel("time since start (s)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    return figure


def _throughput_plot(analysis: Analysis) -> Figure:
    figure, (ax,) = _figure()
    overall = _overall(analysis)
    if overall.empty:
        _no_data(ax, "no requests recorded")
        return figure
    interval = _series_width(analysis)
    ax.plot(overall["s"], overall["rate"], color=PALETTE[0], linewidth=1.2, label="requests/s")
    ax.set_ylabel("requests / s")
    ax.set_xlabel("time since start (s)")
    ax.set_ylim(bottom=0)
    errors = ax.twinx()
    errors.fill_between(
        overall["s"],
        overall["failures"] / interval,
        step="post",
        color=PALETTE[1],
        alpha=0.35,
        linewidth=0,
        label="failures/s",
    )
    errors.set_ylabel("failures / s", color=PALETTE[1])
    errors.set_ylim(bottom=0)
    errors.spines["top"].set_visible(False)
    _shade_faults(ax, analysis.faults)
    handles = ax.get_legend_handles_labels()[0] + errors.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False, ncols=2)
    return figure


def _users_plot(analysis: Analysis) -> Figure:
    figure, (ax,) = _figure(height=2.4)
    users = analysis.users
    if users.empty:
        _no_data(ax, "no user-count events recorded")
        return figure
    s = np.append(users["s"].to_numpy(), analysis.run.end_s)
    counts = np.append(users["users"].to_numpy(), users["users"].iloc[-1])
    ax.step(s, counts, where="post", color=PALETTE[3], linewidth=1.4)
    ax.fill_between(s, counts, step="post", color=PALETTE[3], alpha=0.12)
    _shade_faults(ax, analysis.faults)
    ax.set_ylabel("users")
    ax.set_xlabel("time since start (s)")
    ax.set_ylim(bottom=0)
    return figure


def _resources_plot(analysis: Analysis) -> Figure:
    figure, axes = _figure(rows=2, height=2.6)
    resources = analysis.run.resources
    if resources.empty:
        for ax in axes:
            _no_data(ax, "no resource samples recorded")
        return figure
    cpu_ax, memory_ax = axes
    for colour, (source, rows) in zip(
        PALETTE, resources.groupby("source", sort=True), strict=False
    ):
        rows = rows.sort_values("s")
        cpu_ax.plot(rows["s"], rows["cpu_percent"], color=colour, linewidth=1.0, label=source)
        memory_ax.plot(
            rows["s"], rows["rss_bytes"] / (1024 * 1024), color=colour, linewidth=1.0, label=source
        )
    for ax in axes:
        _shade_faults(ax, analysis.faults, label=ax is cpu_ax)
        ax.set_ylim(bottom=0)
    cpu_ax.set_ylabel("CPU (% of a core)")
    memory_ax.set_ylabel("memory RSS (MB)")
    memory_ax.set_xlabel("time since start (s)")
    cpu_ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    return figure


def _distribution_plot(analysis: Analysis, composite: bool = False) -> Figure:
    figure, (ax,) = _figure(height=3.6)
    endpoints = _top_endpoints(analysis, composite)
    if not endpoints:
        _no_data(ax, "no composite events recorded" if composite else "no requests recorded")
        return figure
    every = analysis.extras["distribution"]
    assert isinstance(every, np.ndarray)
    values = every[[analysis.endpoints.index(endpoint) for endpoint in endpoints]]
    x = 1.0 / (1.0 - np.minimum(np.array(DISTRIBUTION_PERCENTILES) / 100.0, 0.99999))
    for colour, endpoint, row in zip(PALETTE, endpoints, values, strict=False):
        ax.plot(
            x, row / 1000.0, marker="o", markersize=3, color=colour, linewidth=1.2, label=endpoint
        )
    ax.set_xscale("log")
    ax.set_xticks(x[[0, 2, 4, 6, 8, 9]])
    ax.set_xticklabels(["p50", "p90", "p99", "p99.9", "p99.99", "max"])
    ax.xaxis.set_minor_locator(NullLocator())  # named percentiles: decade minor ticks mean nothing
    ax.set_ylabel("latency (ms)")
    ax.set_xlabel("percentile (merged HDR histogram of the whole run)")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)
    return figure


def report_plots(analysis: Analysis) -> list[Plot]:
    """Every figure of the report, in page order."""
    makers: list[tuple[str, str, Callable[[Analysis], Figure]]] = [
        ("latency", "Latency percentiles over time (all requests)", _latency_plot),
        ("endpoint-latency", "p95 per request endpoint over time", _endpoint_latency_plot),
        ("throughput", "Request throughput and failures", _throughput_plot),
        ("users", "Users", _users_plot),
        ("resources", "Target CPU and memory", _resources_plot),
        ("distribution", "Latency distribution per request endpoint", _distribution_plot),
    ]
    return [Plot(key, title, _encode(make(analysis)), title) for key, title, make in makers]


def composite_plots(analysis: Analysis) -> list[Plot]:
    """Figures of the composite events (jobs, sessions, iterations); none when there are none."""
    if not analysis.composite_endpoints:
        return []
    makers: list[tuple[str, str, Callable[[Analysis], Figure]]] = [
        (
            "composite-latency",
            "p95 per composite event over time (jobs, sessions, iterations)",
            lambda a: _endpoint_latency_plot(a, composite=True),
        ),
        (
            "composite-distribution",
            "Duration distribution per composite event",
            lambda a: _distribution_plot(a, composite=True),
        ),
    ]
    return [Plot(key, title, _encode(make(analysis)), title) for key, title, make in makers]


def comparison_plot(first: Analysis, second: Analysis, labels: tuple[str, str]) -> Plot:
    """Overall p95 over time of two runs on one chart."""
    figure, (ax,) = _figure()
    for colour, analysis, label in zip(PALETTE[:2], (first, second), labels, strict=True):
        overall = analysis.series[analysis.series["endpoint"] == OVERALL]
        ax.plot(overall["s"], overall["p95"], color=colour, linewidth=1.2, label=f"{label} p95")
    ax.set_ylabel("p95 latency (ms)")
    ax.set_xlabel("time since start (s)")
    ax.set_ylim(bottom=0)
    ax.legend(loc="upper right", frameon=False)
    title = "p95 over time, both runs"
    return Plot("comparison", title, _encode(figure), title)
