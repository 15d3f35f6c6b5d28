"""loadkit.units: the one parser for durations, sizes and percentages."""

from __future__ import annotations

import pytest

from loadkit.errors import ConfigError
from loadkit.units import epoch_seconds, parse_duration, parse_percent, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1.5s", 1.5),
        ("30", 30.0),
        (0.25, 0.25),
        (3, 3.0),
        (" 10 S ", 10.0),
        ("0s", 0.0),
    ],
)
def test_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["3 minutes", "-1s", "s", "", None, True, [], "1d", -2])
def test_bad_durations_name_source_field_and_fix(bad):
    with pytest.raises(ConfigError) as info:
        parse_duration(bad, field="faults[0].at", source="x.yaml")
    message = str(info.value)
    assert message.startswith("x.yaml: faults[0].at: ")
    assert "write e.g." in message and "\n" not in message


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512", 512),
        (512, 512),
        ("100B", 100),
        ("64KB", 65536),
        ("10MB", 10 * 1024**2),
        ("1GiB", 1024**3),
        ("1.5k", 1536),
    ],
)
def test_sizes(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["10 parsecs", "-5", -5, "MB", None, False])
def test_bad_sizes(bad):
    with pytest.raises(ConfigError, match=r"size|negative"):
        parse_size(bad, field="rate")


@pytest.mark.parametrize(
    ("text", "fraction"),
    [("5%", 0.05), ("0.5%", 0.005), (0.05, 0.05), ("100%", 1.0), (1, 1.0), ("0", 0.0)],
)
def test_percents(text, fraction):
    assert parse_percent(text) == pytest.approx(fraction)


@pytest.mark.parametrize("bad", ["150%", 2, "five", None, "-1%"])
def test_bad_percents(bad):
    with pytest.raises(ConfigError, match=r"percentage|outside"):
        parse_percent(bad, field="error_rate")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (1700000000, 1700000000.0),
        (1700000000.25, 1700000000.25),
        ("2023-11-14T22:13:20Z", 1700000000.0),
        ("2023-11-14T22:13:20", 1700000000.0),  # no zone: UTC
        ("2023-11-14T23:13:20+01:00", 1700000000.0),
    ],
)
def test_timestamps_a_service_answers_with(value, seconds):
    assert epoch_seconds(value) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["yesterday", None, True, [1], {"t": 1}])
def test_what_is_not_a_timestamp_is_none(bad):
    assert epoch_seconds(bad) is None
