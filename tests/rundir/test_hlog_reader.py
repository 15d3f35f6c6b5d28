"""The vectorised ``.hlog`` reader: what the writer writes, and the same as one line at a time."""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from hdrh.histogram import HdrHistogram

from loadkit.rundir import hdr_batch, hlog
from loadkit.rundir.hdr_codec import decode_sparse
from loadkit.rundir.hlog import decode_tag
from loadkit.rundir.hlog_reader import read_latency_log


def _encoded(values: list[int], count: int = 1, highest: int = 3_600_000_000, sig: int = 3) -> str:
    histogram = HdrHistogram(1, highest, sig)
    for value in values:
        histogram.record_value(value, count)
    return histogram.encode().decode()


def _with_trailing_bytes(encoded: str) -> str:
    """The same histogram with junk after its varints (allowed: the header gives their length)."""
    raw = base64.b64decode(encoded)
    payload = zlib.decompress(raw[8:]) + b"\xff\x01\x02"
    body = zlib.compress(payload)
    return base64.b64encode(raw[:4] + struct.pack(">I", len(body)) + body).decode()


def _write(path: Path, lines: list[str]) -> None:
    header = [
        "#[StartTime: 1795000000.000 (seconds since epoch)]",
        '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"',
    ]
    path.write_text("\n".join(header + lines) + "\n")


def test_reader_equals_line_by_line_decoding(tmp_path, monkeypatch) -> None:
    rng = np.random.default_rng(7)
    lines, expected = [], []
    for t in range(40):
        for tag in ("ok:GET%20/a", "fail:GET%20/a", "ok:POST%20/b%2C%20c"):
            values = (rng.lognormal(7 + t % 5, 1.2, int(rng.integers(0, 300))) + 1).astype(int)
            encoded = _encoded(values.tolist(), count=int(rng.integers(1, 70_000)))
            written = _with_trailing_bytes(encoded) if t == 3 else encoded
            lines.append(f"Tag={tag},{t}.000,1.000,1.0,{written}")
            expected.append((float(t), *decode_tag(tag), encoded))
    lines.insert(5, "Tag=ok:GET%20/a,1.000,1.000,1.0,bm90IGEgaGlzdG9ncmFt")  # not a histogram
    lines.insert(9, f"Tag=ok:GET%20/a,2.000,1.000,{_encoded([5], sig=2)}")  # a field missing
    lines.insert(11, f"Tag=ok:GET%20/a,2.000,1.000,1.0,{_encoded([5], sig=2)}")  # other precision
    lines.append(f"Tag=ok:GET%20/a,50.000,1.000,1.0,{_encoded([])}")  # empty: a row of count 0
    expected.append((50.0, "ok", "GET /a", _encoded([])))
    lines.append("Tag=ok:GET%20/a,51.000,1.000,1.0,HISTFAAAAC")  # torn
    _write(tmp_path / "latency.hlog", lines)
    monkeypatch.setattr(hdr_batch, "_CHUNK_BYTES", 500)  # many chunks, cut anywhere
    log = read_latency_log(tmp_path / "latency.hlog")
    assert log.skipped_lines == 4
    assert log.start_time == 1795000000.0
    expected.sort(key=lambda e: (e[0], e[2], e[1] == "fail"))
    assert log.rows[["t", "outcome", "endpoint"]].values.tolist() == [list(e[:3]) for e in expected]
    for row, (*_, encoded) in enumerate(expected):
        _, index, counts = decode_sparse(encoded)
        entries = log.entry_slice(row, row + 1)
        assert log.entry_row[entries].tolist() == [row] * len(index)
        assert log.entry_index[entries].tolist() == index.tolist()
        assert log.entry_count[entries].tolist() == counts.tolist()
        assert log.rows["count"].iloc[row] == counts.sum()


def test_layout_grows_to_the_highest_trackable_value(tmp_path) -> None:
    small, large = _encoded([1000], highest=60_000_000), _encoded([2000])
    _write(tmp_path / "latency.hlog", [f"0.000,1.000,1.0,{small}", f"1.000,1.000,1.0,{large}"])
    log = read_latency_log(tmp_path / "latency.hlog")
    assert log.layout.highest == 3_600_000_000 and log.skipped_lines == 0
    assert log.rows["count"].tolist() == [1, 1]
    assert log.rows["endpoint"].tolist() == ["", ""]


def test_only_garbage_gives_an_empty_log(tmp_path) -> None:
    _write(tmp_path / "latency.hlog", ["Tag=ok:x,0.000,1.000,1.0,HISTFAAAAC", "junk"])
    log = read_latency_log(tmp_path / "latency.hlog")
    assert log.skipped_lines == 2 and len(log.rows) == 0 and len(log.entry_row) == 0


def test_a_nine_byte_varint_is_rejected() -> None:
    data = np.frombuffer(b"\x02" + b"\xff" * 8 + b"\x01", dtype=np.uint8)
    with pytest.raises(ValueError):
        hdr_batch.decode_varints(data, np.array([len(data)]), 100)


def test_reader_reads_what_the_metrics_writer_writes(tmp_path) -> None:
    writer = hlog.HlogWriter(tmp_path / "latency.hlog", 1795000000.0)
    histogram = hlog.new_histogram()
    for value in (1000, 2000, 30_000):
        histogram.record_value(value)
    writer.write(hlog.encode_tag("fail", "WS task.updated, echo"), 1.0, 2.0, histogram)
    writer.close()
    log = read_latency_log(tmp_path / "latency.hlog")
    assert log.start_time == 1795000000.0
    assert log.rows.iloc[0].to_dict() == {
        "t": 1.0,
        "length": 1.0,
        "endpoint": "WS task.updated, echo",
        "outcome": "fail",
        "count": 3,
    }
