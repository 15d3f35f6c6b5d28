"""Planted secrets of a `request` fault appear nowhere loadkit writes or prints."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from loadkit.target.launcher import start_target

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
SECRETS = ("PLANTEDURLPW", "PLANTEDAUTH", "PLANTEDCOOKIE", "PLANTEDENVKEY", "PLANTEDQUERY")

SCENARIO = """\
name: secrets
target: {url}
users: {{WorkspaceUser: 1}}
stages:
  - {{name: steady, duration: 6s, users: 1, spawn_rate: 1}}
faults:
  - name: planted
    at: 1s
    for: 2s
    kind: request
    method: POST
    url: "http://someone:PLANTEDURLPW@{hostport}/admin/faults?token=PLANTEDQUERY"
    json: {{path: /nothing-here, latency_ms: 1}}
    headers: {{Authorization: "Bearer PLANTEDAUTH", X-Api-Key: "${{LK_PLANTED_KEY}}"}}
    revert:
      method: DELETE
      url: "http://someone:PLANTEDURLPW@{hostport}/admin/faults"
      headers: {{Cookie: "session=PLANTEDCOOKIE"}}
checks:
  - count > 0
"""


def test_a_planted_secret_is_found_nowhere(tmp_path):
    with start_target(tmp_path / "target") as target:
        hostport = target.url.removeprefix("http://")
        scenario = tmp_path / "secrets.yaml"
        scenario.write_text(textwrap.dedent(SCENARIO.format(url=target.url, hostport=hostport)))
        index = tmp_path / "index"
        env = dict(os.environ, LK_PLANTED_KEY="PLANTEDENVKEY", LOADKIT_FAULTS_INDEX=str(index))
        out = tmp_path / "reports"
        proc = subprocess.run(
            [sys.executable, "-m", "loadkit", "run", str(scenario), "--out", str(out)],
            capture_output=True, text=True, timeout=240, cwd=ROOT, env=env,
        )  # fmt: skip
    console = proc.stdout + proc.stderr
    assert proc.returncode == 0, console[-4000:]
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    names = {p.name for p in run_dir.iterdir()}
    assert {"events.jsonl", "summary.json", "report.html", "junit.xml"} <= names, names
    events = (run_dir / "events.jsonl").read_text()
    assert '"fault_inject"' in events and "planted" in events  # the fault did happen
    assert "${LK_PLANTED_KEY}" in events  # the reference is kept, unexpanded
    places = {"console": console}
    for path in [*run_dir.rglob("*"), *index.rglob("*")]:
        if path.is_file():
            places[str(path)] = path.read_text(errors="replace")
    leaks = [
        (secret, where) for secret in SECRETS for where, text in places.items() if secret in text
    ]
    assert not leaks, leaks
