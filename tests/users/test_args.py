"""The locustfiles' parameters are Locust custom arguments shown in the web UI."""

from __future__ import annotations

import json
import subprocess
import sys

from locust_support import LOCUSTFILES

SHOW_UI_ARGS = """
import json, sys
sys.path.insert(0, sys.argv[1])
import mixed  # noqa: F401  (registers the three locustfiles' arguments)
from locust.argument_parser import ui_extra_args_dict
args = ui_extra_args_dict([])
print(json.dumps({k: v["default_value"] for k, v in args.items()}, default=str))
"""


def test_every_parameter_is_in_the_web_ui_with_a_plain_default() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SHOW_UI_ARGS, str(LOCUSTFILES)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    ui = json.loads(proc.stdout.strip().splitlines()[-1])
    ours = {k for k in ui if k.startswith(("job_", "session_", "sync_", "user_"))}
    expected = {
        "job_workspaces", "job_poll_interval", "job_deadline", "job_output_sizes",
        "job_large_output_bytes", "job_tasks", "session_burst_size", "session_burst_spacing",
        "session_mode", "session_rate", "session_expiry_deadline", "sync_repos",
        "sync_repos_per_client", "sync_writer_share", "sync_reconnect_base", "user_profile",
    }  # fmt: skip
    assert expected <= ours, expected - ours
    assert ui["job_tasks"].startswith("echo:")  # text the web UI can edit
    assert ui["job_output_sizes"] == [1024, 65536, 1048576]
    assert ui["user_profile"] == "builtin"
    assert not any(k.startswith("ws_") for k in ui), ui  # the old names are aliases only
