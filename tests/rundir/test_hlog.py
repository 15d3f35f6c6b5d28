"""latency.hlog: tags, the hot-path bucket index, writing and reading (also with hdrh's reader)."""

from __future__ import annotations

import random

import pytest
from hdrh.log import HistogramLogReader

from loadkit.metrics.intervals import IntervalCounter, IntervalMerger, from_wire, to_wire
from loadkit.rundir.hlog import (
    HIGHEST_US,
    HlogWriter,
    counts_index,
    decode_tag,
    encode_tag,
    histogram_from_counts,
    new_histogram,
    read_log,
    read_start_time,
)


@pytest.mark.parametrize(
    "endpoint", ["POST /execute", "GET /status/{id}", "WS task.updated, repo=a", "GET /ä?x=1&y=2"]
)
def test_tags_round_trip_without_spaces_or_commas(endpoint) -> None:
    for outcome in ("ok", "fail"):
        tag = encode_tag(outcome, endpoint)
        assert " " not in tag and "," not in tag
        assert decode_tag(tag) == (outcome, endpoint)
    assert encode_tag("ok", "POST /execute") == "ok:POST%20/execute"


def test_bad_tags_are_refused() -> None:
    with pytest.raises(ValueError):
        encode_tag("maybe", "GET /")
    with pytest.raises(ValueError):
        decode_tag("GET /")


def test_counts_index_is_hdrh_own_index() -> None:
    histogram = new_histogram()
    rng = random.Random(4)
    values = [*range(1, 5000), HIGHEST_US, *(rng.randint(1, HIGHEST_US) for _ in range(20000))]
    for value in values:
        assert counts_index(value) == histogram._counts_index_for(value), value
    assert counts_index(0) == 0
    assert counts_index(HIGHEST_US * 10) == histogram.counts_len - 1


def test_counted_buckets_give_the_same_percentiles_as_recording() -> None:
    rng = random.Random(7)
    direct = new_histogram()
    counts: dict[int, int] = {}
    for _ in range(5000):
        value = int(rng.lognormvariate(9, 1))
        direct.record_value(value)
        counts[counts_index(value)] = counts.get(counts_index(value), 0) + 1
    rebuilt = histogram_from_counts(counts)
    assert rebuilt.get_total_count() == direct.get_total_count() == 5000
    for percentile in (50, 90, 99, 99.9, 100):
        assert rebuilt.get_value_at_percentile(percentile) == direct.get_value_at_percentile(
            percentile
        )


def _write_sample_log(path, start=1795000000.5):
    writer = HlogWriter(path, start)
    merger = IntervalMerger(writer, 1.0, start)
    counter = IntervalCounter()
    counter.enabled = True
    for ms in (1.5, 2.0, 30.0):
        counter.on_request("GET", "/a b", ms)
    counter.on_request("POST", "/x", 5.0, exception=RuntimeError("boom"))
    merger.add(1795000000, from_wire(to_wire(counter.swap())))  # through the wire form
    counter.on_request("GET", "/a b", 7.0)
    merger.add(1795000001, counter.swap())
    merger.write_all()
    writer.close()
    return start


def test_log_is_readable_by_hdrh_reader(tmp_path) -> None:
    path = tmp_path / "latency.hlog"
    start = _write_sample_log(path)
    reader = HistogramLogReader(str(path), new_histogram())
    seen = []
    while (histogram := reader.get_next_interval_histogram()) is not None:
        seen.append((histogram.get_tag(), histogram.get_total_count()))
    assert reader.get_start_time_sec() == pytest.approx(start, abs=0.001)
    assert sorted(seen) == [("fail:POST%20/x", 1), ("ok:GET%20/a%20b", 1), ("ok:GET%20/a%20b", 3)]


def test_read_log_gives_relative_intervals_and_exact_counts(tmp_path) -> None:
    path = tmp_path / "latency.hlog"
    start = _write_sample_log(path)
    assert read_start_time(path) == pytest.approx(start, abs=0.001)
    intervals = list(read_log(path))
    first = [i for i in intervals if i.start_s == 0.0]
    assert {i.tag for i in first} == {"ok:GET%20/a%20b", "fail:POST%20/x"}
    assert all(i.end_s == pytest.approx(0.5) for i in first)
    tag, start_s, end_s, histogram = intervals[-1]  # unpacks like a tuple
    assert (tag, start_s, end_s) == ("ok:GET%20/a%20b", 0.5, 1.5)
    assert histogram.get_total_count() == 1
    assert histogram.get_value_at_percentile(100) == pytest.approx(7000, rel=0.001)


def test_read_log_skips_a_torn_last_line(tmp_path) -> None:
    path = tmp_path / "latency.hlog"
    _write_sample_log(path)
    text = path.read_text()
    complete = len(list(read_log(path)))
    path.write_text(text + text.splitlines()[-1][:40])  # a line cut by a kill, no newline
    assert len(list(read_log(path))) == complete
    path.write_text(text[: len(text) - 10])  # the last line itself cut short
    assert len(list(read_log(path))) == complete - 1


def test_the_hot_path_buckets_like_counts_index() -> None:
    counter = IntervalCounter()
    counter.enabled = True
    rng = random.Random(11)
    values_ms = [0.0, None, 0.0004, 0.001, 2.047, 2.048, 2.049, 4.095, 4.096, 3_600_000.0, 1e9]
    values_ms += [rng.lognormvariate(3, 2) for _ in range(20000)]
    expected: dict[int, int] = {}
    for ms in values_ms:
        counter.on_request("GET", "/x", ms)
        index = counts_index(int((ms or 0) * 1000))
        expected[index] = expected.get(index, 0) + 1
    assert counter.swap() == {("GET", "/x", True): expected}
    assert counter.swap() == {}
    counter.enabled = False
    counter.on_request("GET", "/x", 1.0)
    assert counter.swap() == {}


def test_the_reused_encoder_gives_the_same_histograms(tmp_path) -> None:
    from loadkit.rundir.hlog import CountsEncoder

    rng = random.Random(3)
    encoder = CountsEncoder()
    for _ in range(5):
        counts: dict[int, int] = {}
        for _ in range(rng.randint(1, 3000)):
            index = counts_index(int(rng.lognormvariate(8, 2)) + 1)
            counts[index] = counts.get(index, 0) + 1
        payload, max_us = encoder.encode(counts)
        fresh = histogram_from_counts(counts)
        assert payload == fresh.encode().decode("ascii")
        assert max_us == fresh.get_max_value()
