"""HdrHistogram interval logs (``latency.hlog``): tags, writing, tolerant reading.

Latencies are recorded in microseconds, 3 significant digits, 1 µs … 1 hour
(the layout of ``docs/run-dir.md``). The hot path does not touch an
:class:`HdrHistogram` at all: :func:`counts_index` maps a value to the index of
its HDR bucket with integer arithmetic, callers count indices in a plain dict,
and :func:`histogram_from_counts` turns such a sparse map into a real histogram
once per interval. The index is exactly the one ``hdrh`` uses, so nothing is
lost beyond the histogram's own precision.
"""

from __future__ import annotations

import sys
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Final, Literal, NamedTuple

from hdrh.histogram import HdrHistogram

__all__ = [
    "HIGHEST_US",
    "LOWEST_US",
    "MAX_INDEX",
    "OUTCOMES",
    "SIGNIFICANT_DIGITS",
    "CountsEncoder",
    "HlogWriter",
    "IntervalHistogram",
    "Outcome",
    "counts_index",
    "decode_tag",
    "encode_tag",
    "histogram_from_counts",
    "new_histogram",
    "read_log",
    "read_start_time",
]

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_DIGITS = 3
Outcome = Literal["ok", "fail"]
OUTCOMES: Final[tuple[Outcome, ...]] = ("ok", "fail")

# HDR layout for (1, 1 h, 3 digits): 2048 sub-buckets, half count 1024, unit magnitude 0.
_SUB_BUCKET_MASK = 2047
_HALF_COUNT_MAGNITUDE = 10
_HALF_COUNT = 1024
MAX_INDEX = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS).counts_len - 1

LEGEND = '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"'


def encode_tag(outcome: Outcome, endpoint: str) -> str:
    """``ok`` / ``fail`` and ``"<request_type> <name>"`` → an hlog tag (no spaces/commas).

    Any ``str`` can be encoded (a lone surrogate too): a tag never fails the
    interval flush that writes it.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
    return f"{outcome}:{_quote(endpoint)}"


def decode_tag(tag: str) -> tuple[Outcome, str]:
    """An hlog tag → ``(outcome, endpoint)``; the exact inverse of :func:`encode_tag`.

    Raises ``ValueError`` for every tag :func:`encode_tag` cannot produce (no
    outcome, another outcome, bad percent-encoding, or a spelling that is not
    the canonical one), so two different tags never name the same endpoint.
    """
    outcome, sep, quoted = tag.partition(":")
    if not sep or outcome not in OUTCOMES:
        raise ValueError(f"not a loadkit latency tag (no ok:/fail: outcome): {tag!r}")
    try:
        endpoint = urllib.parse.unquote(quoted, errors="surrogatepass")
    except UnicodeDecodeError:
        raise ValueError(f"not a loadkit latency tag (bad percent-encoding): {tag!r}") from None
    if _quote(endpoint) != quoted:
        raise ValueError(f"not a loadkit latency tag (not encoded as loadkit does): {tag!r}")
    return ("ok" if outcome == "ok" else "fail"), endpoint


def _quote(endpoint: str) -> str:
    return urllib.parse.quote(endpoint, safe="/:", errors="surrogatepass")


def counts_index(value_us: int) -> int:
    """Index of ``value_us``'s bucket in the HDR counts array (same as ``hdrh``)."""
    if value_us < LOWEST_US:
        return 0
    bucket = (value_us | _SUB_BUCKET_MASK).bit_length() - 11
    index = ((bucket + 1) << _HALF_COUNT_MAGNITUDE) + (value_us >> bucket) - _HALF_COUNT
    return index if index <= MAX_INDEX else MAX_INDEX


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


def histogram_from_counts(counts: Mapping[int, int]) -> HdrHistogram:
    """A histogram holding ``{counts_index: count}``."""
    histogram = new_histogram()
    for index, count in counts.items():
        histogram.record_value(histogram.get_value_from_index(index), count)
    return histogram


class CountsEncoder:
    """Encodes sparse ``{counts_index: count}`` maps with one reused histogram.

    A fresh 1 µs…1 h histogram is a ~190 KB counts array; reusing one (and zeroing
    only the touched buckets) keeps a long run from churning the allocator.
    """

    def __init__(self) -> None:
        self._histogram = new_histogram()

    def encode(self, counts: Mapping[int, int]) -> tuple[str, int]:
        """``(compressed base64 histogram, max value in µs)``."""
        histogram = self._histogram
        try:
            for index, count in counts.items():
                histogram.record_value(histogram.get_value_from_index(index), count)
            return histogram.encode().decode("ascii"), int(histogram.get_max_value())
        finally:
            for index in counts:
                histogram.counts[index] = 0
            histogram.total_count = 0
            histogram.min_value = sys.maxsize
            histogram.max_value = 0


class IntervalHistogram(NamedTuple):
    """One line of an interval log: a tagged histogram over ``[start_s, end_s)``."""

    tag: str
    start_s: float
    end_s: float
    histogram: HdrHistogram


class HlogWriter:
    """Appends tagged interval histograms to an ``.hlog`` file, flushing each batch."""

    def __init__(self, path: Path, start_time: float) -> None:
        self.path = path
        self.start_time = start_time
        self._encoder = CountsEncoder()
        self._file: IO[str] | None = path.open("a", encoding="utf-8")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start_time))
        self._file.write("#[Histogram log format version 1.2]\n")
        self._file.write(f"#[StartTime: {start_time:.3f} (seconds since epoch), {stamp}Z]\n")
        self._file.write(LEGEND + "\n")
        self._file.flush()

    def write(self, tag: str, start_s: float, end_s: float, histogram: HdrHistogram) -> None:
        """Append one interval (times relative to the start time, seconds)."""
        payload = histogram.encode().decode("ascii")
        self._write_line(tag, start_s, end_s, int(histogram.get_max_value()), payload)

    def write_counts(
        self, tag: str, start_s: float, end_s: float, counts: Mapping[int, int]
    ) -> None:
        """Append one interval given as sparse bucket counts (see :func:`counts_index`)."""
        payload, max_us = self._encoder.encode(counts)
        self._write_line(tag, start_s, end_s, max_us, payload)

    def _write_line(
        self, tag: str, start_s: float, end_s: float, max_us: int, payload: str
    ) -> None:
        if self._file is None:
            return
        start_s = max(start_s, 0.0)
        length = max(end_s - start_s, 0.0)
        self._file.write(f"Tag={tag},{start_s:.3f},{length:.3f},{max_us / 1000.0:.3f},{payload}\n")

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            self._file.close()
            self._file = None


def read_start_time(path: Path) -> float | None:
    """The ``#[StartTime: ...]`` of an interval log (epoch seconds), if present."""
    with path.open(encoding="utf-8", errors="replace") as file:
        for line in file:
            if line.startswith("#[StartTime:"):
                try:
                    return float(line.split()[1])
                except (IndexError, ValueError):
                    return None
            if not line.startswith("#"):
                break
    return None


def read_log(path: Path | str) -> Iterator[IntervalHistogram]:
    """Every interval of ``path`` as ``(tag, start_s, end_s, histogram)``, in file order.

    A line that cannot be parsed (a torn last line after a hard kill) is skipped.
    Untagged lines get the tag ``""``.
    """
    with Path(path).open(encoding="utf-8", errors="replace") as file:
        for line in file:
            parsed = _parse_line(line)
            if parsed is not None:
                yield parsed


def _parse_line(line: str) -> IntervalHistogram | None:
    if not line.endswith("\n") or line.startswith(("#", '"')):
        return None
    tag = ""
    if line.startswith("Tag="):
        tag, _, line = line[4:].partition(",")
    fields = line.rstrip("\n").split(",")
    if len(fields) != 4:
        return None
    try:
        start_s = float(fields[0])
        length_s = float(fields[1])
        histogram = HdrHistogram.decode(fields[3].encode("ascii"))
    except Exception:  # a torn or garbled line: the reader's contract is to skip it
        return None
    return IntervalHistogram(tag, start_s, start_s + length_s, histogram)
