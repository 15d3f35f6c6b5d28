"""Bad metrics settings stop Locust before the run with one line and exit code 2."""

from __future__ import annotations

import json
import types

import pytest
from metrics_support import LOCUSTFILES, locust

from loadkit.errors import ConfigError
from loadkit.metrics.settings import MetricsSettings, parse_target_pids


def _options(**overrides):
    values = {
        "loadkit_out": "reports",
        "loadkit_interval": "1",
        "loadkit_run_name": "",
        "loadkit_target_pids": "",
        "loadkit_containers": "",
        "loadkit_target_info": None,
    }
    values.update(overrides)
    return types.SimpleNamespace(**values)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--loadkit-interval", "abc"], "--loadkit-interval: 'abc' is not an interval in seconds"),
        (["--loadkit-interval", "0"], "--loadkit-interval: '0' is not an interval in seconds"),
        (["--loadkit-out", "{file}/reports"], "--loadkit-out: cannot write to"),
        (["--loadkit-target-pids", "gateway=x"], "--loadkit-target-pids: 'gateway=x' is not"),
        (["--loadkit-target-info", "{missing}"], "--loadkit-target-info: cannot read"),
    ],
)
def test_bad_setting_is_one_line_and_exit_2(tmp_path, args, expected) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    args = [a.format(file=blocker, missing=tmp_path / "nope.json") for a in args]
    proc = locust(
        [
            "-f",
            str(LOCUSTFILES / "basic.py"),
            "--headless",
            "-u",
            "1",
            "-t",
            "1s",
            "-H",
            "http://127.0.0.1:9",
            *args,
        ],
        cwd=tmp_path,
    )
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2, output
    assert "Traceback" not in output
    [line] = [line for line in output.splitlines() if "loadkit: error:" in line]
    assert expected in line
    assert "; " in line  # names the fix


def test_settings_from_options(tmp_path) -> None:
    info = tmp_path / "target.json"
    info.write_text(json.dumps({"gateway": {"pid": 11, "url": "x"}, "agent": {"pid": 12}}))
    settings = MetricsSettings.from_options(
        _options(
            loadkit_out=str(tmp_path / "new" / "reports"),
            loadkit_interval="0.5",
            loadkit_target_pids="gateway=21",
            loadkit_containers="gw, agent,",
            loadkit_target_info=str(tmp_path),  # the data dir works too
        )
    )
    assert settings.interval_s == 0.5
    assert settings.out_dir.is_dir()
    assert settings.target_pids == {"gateway": 21, "agent": 12}  # explicit pids win
    assert settings.containers == ("gw", "agent")


def test_target_pids_syntax() -> None:
    assert parse_target_pids("") == {}
    assert parse_target_pids("gateway=1, agent=2") == {"gateway": 1, "agent": 2}
    for bad in ("gateway", "=3", "a=-1", "a=0"):
        with pytest.raises(ConfigError):
            parse_target_pids(bad)
