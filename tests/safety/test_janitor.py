"""loadkit.safety.janitor against real processes: it cleans up after an owner killed with -9."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from loadkit._proc import alive
from loadkit.safety.janitor import Janitor


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_janitor_cleans_after_its_owner_dies_and_not_after_cancel(tmp_path):
    doomed, kept = tmp_path / "doomed", tmp_path / "kept"
    doomed.mkdir()
    kept.mkdir()
    script = tmp_path / "owner.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys, time
        from loadkit.safety.janitor import Janitor
        j = Janitor().start()
        j.tell("remove", {str(doomed)!r})
        print(j.pid, flush=True)
        time.sleep(600)
    """)
    )
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    janitor_pid = int(owner.stdout.readline())
    owner.kill()
    owner.wait()
    assert wait_until(lambda: not doomed.exists(), 10)
    assert wait_until(lambda: not alive(janitor_pid), 10)
    janitor = Janitor().start()
    janitor.tell("remove", str(kept))
    janitor.cancel()
    assert kept.exists() and not alive(janitor.pid)
    with pytest.raises(ValueError):
        Janitor().tell("remove", "two\nlines")


def test_janitor_reads_commands_until_eof(tmp_path: Path):
    target = tmp_path / "x"
    target.mkdir()
    code = textwrap.dedent(f"""
        import os
        from loadkit.safety.janitor import main
        r, w = os.pipe()
        os.write(w, b"remove {target}\\n")
        os.close(w)
        raise SystemExit(main(["--fd", str(r)]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert not target.exists()
