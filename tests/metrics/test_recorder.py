"""RunRecorder: the handle other parts use (run_dir, started_at, event), without Locust."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from loadkit.errors import LoadkitError
from loadkit.metrics.recorder import RunInfo, RunRecorder
from loadkit.metrics.resources import docker_collectors
from loadkit.rundir.events import read_events


def _info(name="unit run"):
    return RunInfo(
        name=name, host="http://127.0.0.1:1", locustfile=None, scenario_file=None, mode="local",
        workers=0, checks=["p95(GET /) < 1s"], baseline=None, target_pids={}, containers=[],
        versions={"loadkit": "0"}, git_commit=None,
    )  # fmt: skip


def test_events_before_the_first_run_are_kept_and_threads_write_whole_lines(tmp_path) -> None:
    recorder = RunRecorder()
    with pytest.raises(LoadkitError):
        _ = recorder.run_dir
    assert getattr(recorder, "started_at", None) is None  # what other parts may ask
    recorder.event("note", message="before the run")
    run = recorder.start(tmp_path, _info(), 1.0, [])
    assert recorder.run_dir == run.dir and run.dir.name.endswith("-unit-run")
    assert recorder.started_at == run.started_at and recorder.running

    def burst(n: int) -> None:
        for i in range(300):
            recorder.event("note", message=f"thread {n} line {i} " + "x" * 200)

    threads = [threading.Thread(target=burst, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    recorder.stop()
    recorder.event("fault_revert", name="f", kind="latency", reason="stop", ok=True, error=None)
    recorder.finish(exit_code=0, interrupted=False, totals={"requests": 0, "failures": 0})
    recorder.close()

    lines = (run.dir / "events.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]  # every line is whole JSON
    assert events[0]["type"] == "run_start" and events[1]["message"] == "before the run"
    assert sum(1 for e in events if e.get("message", "").startswith("thread")) == 1200
    assert [e["type"] for e in events][-2:] == ["fault_revert", "run_stop"]
    document = json.loads((run.dir / "run.json").read_text())
    assert document["exit_status"] == "ok" and document["checks"] == ["p95(GET /) < 1s"]


def test_each_start_gets_a_new_run_dir_and_the_old_one_is_completed(tmp_path) -> None:
    recorder = RunRecorder()
    assert recorder.current_run_dir is None  # what the other parts ask before a run
    first = recorder.start(tmp_path, _info("same"), 1.0, [])
    assert recorder.current_run_dir == first.dir
    second = recorder.start(tmp_path, _info("same"), 1.0, [])
    assert recorder.current_run_dir == second.dir
    assert first.dir != second.dir and second.dir.name.startswith(first.dir.name[:15])
    assert json.loads((first.dir / "run.json").read_text())["stopped_at"] is not None
    assert [e["type"] for e in read_events(first.dir / "events.jsonl")][-1] == "run_stop"
    recorder.finish(exit_code=1, interrupted=True, totals=None)
    recorder.close()
    assert json.loads((second.dir / "run.json").read_text())["exit_status"] == "interrupted"


def test_unknown_containers_are_skipped_with_a_warning(caplog) -> None:
    # Real Docker SDK: with no engine here it reports that; with one, the container is missing.
    with caplog.at_level(logging.WARNING):
        assert docker_collectors(["loadkit-no-such-container-4711"]) == []
    assert "loadkit-no-such-container-4711" in caplog.text
