"""Soak drift: is p95 latency or the target's memory creeping up over a long run?

On runs with at least ``MIN_DURATION_S`` of data, the series is aggregated
into one point per ``BUCKET_S`` (the merged p95 of that minute; the mean RSS
per process), to tame the autocorrelation of per-second samples, and fitted by
ordinary least squares. The slope is given per hour with a 95 % confidence
interval and a two-sided p-value (Student's t). A trend is *flagged* when it
is statistically significant (p < ``ALPHA``) and large enough to matter (more
than ``MIN_RELATIVE_PER_HOUR`` of the mean level per hour), even when every
check passes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from loadkit.report.analysis import Analysis
from loadkit.report.hdr import grouped_percentiles

__all__ = ["Trend", "fit_trend", "soak_drift"]

MIN_DURATION_S = 600.0
BUCKET_S = 60.0
ALPHA = 0.01
MIN_RELATIVE_PER_HOUR = 0.05


@dataclass(frozen=True)
class Trend:
    series: str  # "p95 latency", "gateway memory"
    unit: str  # "ms", "MB"
    points: int
    mean: float
    slope_per_hour: float
    ci_low: float
    ci_high: float
    p_value: float
    flagged: bool

    @property
    def relative_per_hour(self) -> float:
        return self.slope_per_hour / self.mean if self.mean else 0.0

    def to_json(self) -> dict[str, object]:
        return {**asdict(self), "relative_per_hour": self.relative_per_hour}


def _incomplete_beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the regularised incomplete beta (Numerical Recipes ``betacf``)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 300):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1.0) < 1e-12:
            break
    return result


def _regularised_beta(a: float, b: float, x: float) -> float:
    if x <= 0.0 or x >= 1.0:
        return 0.0 if x <= 0.0 else 1.0
    log_front = (
        math.lgamma(a + b)
        - math.lgamma(a)
        - math.lgamma(b)
        + a * math.log(x)
        + b * math.log(1.0 - x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _incomplete_beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _incomplete_beta_fraction(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, dof: int) -> float:
    """P(|T| > |t|) for Student's t with ``dof`` degrees of freedom."""
    return _regularised_beta(dof / 2.0, 0.5, dof / (dof + t * t))


def t_critical_975(dof: int) -> float:
    """The 97.5 % quantile of Student's t (bisection on :func:`t_two_sided_p`)."""
    low, high = 0.0, 100.0
    for _ in range(80):
        middle = (low + high) / 2
        low, high = (middle, high) if t_two_sided_p(middle, dof) > 0.05 else (low, middle)
    return (low + high) / 2


def fit_trend(name: str, unit: str, seconds: np.ndarray, values: np.ndarray) -> Trend | None:
    """Least-squares slope of ``values`` over ``seconds``, per hour; None with < 3 points."""
    keep = ~np.isnan(values)
    x, y = seconds[keep] / 3600.0, values[keep]
    n = len(x)
    if n < 3 or np.ptp(x) == 0:
        return None
    x_mean, y_mean = x.mean(), y.mean()
    sxx = float(((x - x_mean) ** 2).sum())
    slope = float(((x - x_mean) * (y - y_mean)).sum() / sxx)
    residuals = y - (y_mean + slope * (x - x_mean))
    dof = n - 2
    stderr = math.sqrt(float((residuals**2).sum()) / dof / sxx)
    p_value = (0.0 if slope else 1.0) if stderr == 0 else t_two_sided_p(slope / stderr, dof)
    half = t_critical_975(dof) * stderr
    mean = float(y_mean)
    flagged = p_value < ALPHA and mean != 0 and abs(slope / mean) > MIN_RELATIVE_PER_HOUR
    return Trend(name, unit, n, mean, slope, slope - half, slope + half, p_value, bool(flagged))


def _p95_per_bucket(analysis: Analysis) -> tuple[np.ndarray, np.ndarray]:
    streamed = analysis.extras.get("drift_p95")  # computed while streaming the log
    if isinstance(streamed, tuple):
        return streamed
    log = analysis.run.latency
    rows = log.rows
    bucket = np.floor(rows["t"].to_numpy() / BUCKET_S).astype(np.int64)
    n = int(bucket.max()) + 1
    values, totals = grouped_percentiles(
        log.layout, bucket, log.entry_row, log.entry_index, log.entry_count, [95.0], n
    )
    seconds = (np.arange(n) + 0.5) * BUCKET_S
    full = totals > 0
    return seconds[full], values[full, 0] / 1000.0


def soak_drift(analysis: Analysis) -> dict[str, object]:
    """Trends of p95 and of each target process's memory, or why there are none."""
    run = analysis.run
    if run.end_s < MIN_DURATION_S or not len(run.latency.rows):
        minutes = MIN_DURATION_S / 60
        return {"skipped": f"drift needs at least {minutes:.0f} min of data", "trends": []}
    trends: list[Trend] = []
    seconds, p95 = _p95_per_bucket(analysis)
    if (trend := fit_trend("p95 latency", "ms", seconds, p95)) is not None:
        trends.append(trend)
    resources = run.resources
    if len(resources) and "rss_bytes" in resources.columns:
        for source, frame in resources.groupby("source", sort=True):
            if str(source).startswith("locust"):
                continue
            bucket = np.floor(frame["s"].to_numpy(dtype=float) / BUCKET_S)
            means = frame.groupby(bucket)["rss_bytes"].mean() / (1024 * 1024)
            secs = (means.index.to_numpy(dtype=float) + 0.5) * BUCKET_S
            found = fit_trend(f"{source} memory", "MB", secs, means.to_numpy(dtype=float))
            if found is not None:
                trends.append(found)
    return {"skipped": None, "trends": [trend.to_json() for trend in trends]}
