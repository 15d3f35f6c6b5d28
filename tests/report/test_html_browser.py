"""The HTML report opens in a real headless Chromium with every figure present."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from loadkit.rundir.synthetic import SyntheticFault

pytestmark = pytest.mark.browser

FIGURES = ["latency", "endpoint-latency", "throughput", "users", "resources", "distribution"]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    pytest.skip("no Chromium here (apt-get install -y chromium)")


def _headless(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-extensions",
            "--hide-scrollbars",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_report_renders_in_chromium_with_every_figure(make_run, cli, tmp_path) -> None:
    run_dir = make_run(
        "browser",
        duration_s=60,
        rate=200,
        stages=[(0, 10, "ramp"), (20, 30, "steady")],
        faults=[SyntheticFault("gw-pause", 30, 5, kind="pause", latency_factor=20, recover_s=5)],
        checks=["p95 < 10s", "recovery(gw-pause) < 30s"],
    )
    assert cli("report", str(run_dir)).returncode == 0
    url = (run_dir / "report.html").resolve().as_uri()

    dom = _headless("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    images = re.findall(
        r'<img class="plot" alt="[^"]*" src="data:image/png;base64,[A-Za-z0-9+/=]{500,}"',
        dom.stdout,
    )
    assert len(images) == len(FIGURES)
    for key in FIGURES:
        assert f'id="fig-{key}"' in dom.stdout
    assert 'id="verdict">PASS<' in dom.stdout
    assert "gw-pause" in dom.stdout and "recovery(gw-pause) &lt; 30s" in dom.stdout

    shot = tmp_path / "report.png"
    taken = _headless("--window-size=1280,4800", f"--screenshot={shot}", url)
    assert taken.returncode == 0 and shot.stat().st_size > 50_000, taken.stderr[-2000:]
