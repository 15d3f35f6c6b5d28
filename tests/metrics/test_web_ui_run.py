"""From the web UI: every test start gets its own run dir; options show in the UI."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

from metrics_support import LOCUSTFILES, free_port, locust, poll_until, run_dirs, stop

from loadkit.rundir.events import read_events


def _http(url: str, form: dict[str, str] | None = None) -> str:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    with urllib.request.urlopen(url, data=data, timeout=30) as response:
        return response.read().decode()


def _finished(run_dir) -> bool:
    run = json.loads((run_dir / "run.json").read_text())
    return run["exit_status"] is not None


def test_each_web_ui_start_writes_its_own_run_dir(tmp_path, server) -> None:
    url, _ = server
    out = tmp_path / "reports"
    port = free_port()
    web = f"http://127.0.0.1:{port}"
    proc = locust(
        [
            "-f",
            str(LOCUSTFILES / "basic.py"),
            "--web-host",
            "127.0.0.1",
            "--web-port",
            str(port),
            "-H",
            url,
            "--loadkit-out",
            str(out),
        ],
        cwd=tmp_path,
    )
    try:
        page = poll_until(lambda: _try(lambda: _http(web + "/")), timeout=60)
        assert "loadkit_out" in page and "loadkit_interval" in page  # shown in the UI form
        for round_ in (1, 2):
            _http(
                web + "/swarm",
                {
                    "user_count": "2",
                    "spawn_rate": "2",
                    "host": url,
                    "loadkit_run_name": f"ui-{round_}",
                },
            )
            run_dir = poll_until(
                lambda r=round_: [d for d in run_dirs(out) if d.name.endswith(f"ui-{r}")],
                timeout=60,
            )[0]
            poll_until(
                lambda d=run_dir: (
                    sum(1 for line in (d / "latency.hlog").open() if line.startswith("Tag=")) >= 2
                ),
                timeout=60,
            )
            _http(web + "/stop", {})
            poll_until(lambda d=run_dir: _finished(d), timeout=60)
            events = [e["type"] for e in read_events(run_dir / "events.jsonl")]
            assert events[0] == "run_start" and "run_stop" in events
        assert len(run_dirs(out)) == 2
    finally:
        stop(proc)


def _try(call):
    try:
        return call()
    except OSError:
        return None
