"""One hlog tag codec: encode/decode are exact inverses; a foreign tag is never an endpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from loadkit.rundir.hlog import OUTCOMES, HlogWriter, decode_tag, encode_tag, new_histogram
from loadkit.rundir.hlog_reader import read_latency_log
from loadkit.rundir.layout import LATENCY_HLOG, RUN_JSON
from loadkit.rundir.reader import load_run_dir

# every str, lone surrogates included (Locust names are any Python str)
any_text = st.text(st.characters(exclude_categories=()))


@given(st.sampled_from(OUTCOMES), any_text)
@example("ok", "POST /execute")
@example("fail", "WS task.updated, repo=a\n%20%")
@example("ok", "\ud800 GET /ä")
def test_every_endpoint_round_trips(outcome, endpoint) -> None:
    tag = encode_tag(outcome, endpoint)
    assert not set(tag) & set(" ,\n\r\t")  # a tag is one field of one line
    assert decode_tag(tag) == (outcome, endpoint)


percent_ish = st.text(st.sampled_from("%2fF0Cc GET/:aé\ud800,"))


@given(
    st.one_of(
        any_text, st.builds(lambda o, rest: f"{o}:{rest}", st.sampled_from(OUTCOMES), percent_ish)
    )
)
@example("ok:%2f")
@example("ok:%2F")
def test_a_decoded_tag_is_the_one_encoded_tag_of_its_endpoint(tag) -> None:
    """No two tags name the same endpoint: decode accepts exactly what encode writes."""
    try:
        outcome, endpoint = decode_tag(tag)
    except ValueError:
        return
    assert encode_tag(outcome, endpoint) == tag


@pytest.mark.parametrize(
    "tag",
    [
        "",
        "GET%20/a",  # no outcome: the old reader counted it as ok "GET /a"
        "GET /a",
        "maybe:GET%20/a",
        "OK:GET%20/a",
        "ok:GET /a",  # not percent-encoded
        "ok:GET%20%2Fa",  # "/" encoded although loadkit never does: another spelling
        "ok:GET%2c%20a",  # lower-case hex: another spelling of "GET, a"
        "ok:%FF",  # not UTF-8
        "ok:%",
    ],
)
def test_foreign_tags_are_refused(tag) -> None:
    with pytest.raises(ValueError, match="not a loadkit latency tag"):
        decode_tag(tag)


def test_unknown_outcome_is_refused_when_writing() -> None:
    with pytest.raises(ValueError):
        encode_tag("maybe", "GET /")  # type: ignore[arg-type]


def _write_log(path: Path, tags: list[str]) -> None:
    writer = HlogWriter(path, 1_795_000_000.0)
    for t, tag in enumerate(tags):
        histogram = new_histogram()
        histogram.record_value(1000 * (t + 1), 10)
        writer.write(tag, float(t), float(t + 1), histogram)
    writer.close()


def test_reader_skips_and_names_unknown_tags(tmp_path: Path) -> None:
    ok = encode_tag("ok", "GET /a")
    _write_log(tmp_path / LATENCY_HLOG, [ok, "GET%20/a", "ok:GET /a", ok, "weird", "GET%20/a"])
    log = read_latency_log(tmp_path / LATENCY_HLOG)
    assert log.rows["endpoint"].tolist() == ["GET /a", "GET /a"]
    assert log.rows["t"].tolist() == [0.0, 3.0]
    assert log.rows["count"].tolist() == [10, 10]  # nothing of the foreign lines added
    assert log.unknown_tags == {"GET%20/a": 2, "ok:GET /a": 1, "weird": 1}
    assert log.skipped_lines == 0


def test_reporter_warns_about_unknown_tags_and_still_loads(tmp_path: Path) -> None:
    (tmp_path / RUN_JSON).write_text(json.dumps({"started_at": 1_795_000_000.0}))
    _write_log(tmp_path / LATENCY_HLOG, [encode_tag("fail", "GET /a"), "GET%20/b"])
    run = load_run_dir(tmp_path)
    assert run.latency.rows["endpoint"].tolist() == ["GET /a"]
    assert run.latency.rows["outcome"].tolist() == ["fail"]
    (warning,) = [w for w in run.warnings if "tag" in w]
    assert "skipped 1 line(s)" in warning and "'GET%20/b'" in warning


def test_only_unknown_tags_give_an_empty_log_with_their_names(tmp_path: Path) -> None:
    _write_log(tmp_path / LATENCY_HLOG, ["x", "y:z"])
    log = read_latency_log(tmp_path / LATENCY_HLOG)
    assert len(log.rows) == 0 and log.unknown_tags == {"x": 1, "y:z": 1}
    assert log.skipped_lines == 0
