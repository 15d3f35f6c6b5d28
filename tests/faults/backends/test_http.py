"""The http backend against the real target's /admin/faults, and the generic request form."""

from __future__ import annotations

import httpx
import pytest

from loadkit.errors import FaultError
from loadkit.faults.backends.base import BackendContext
from loadkit.faults.backends.http import HttpBackend
from loadkit.faults.model import parse_faults


def one(**item):
    return parse_faults([{"name": "app", "at": 0, **item}], "test")[0]


def execute(url):
    return httpx.post(f"{url}/execute", json={"workspace": "w", "command": "echo hi"}, timeout=30)


def admin_faults(url):
    return httpx.get(f"{url}/admin/faults", timeout=30).json()["faults"]


def test_app_error_on_a_path_then_revert(target):
    backend = HttpBackend(BackendContext(host=target.url))  # url defaults to the run's host
    spec = one(kind="app-error", path="/execute", error_rate="100%", status=503)
    assert backend.describe(spec) == "100% of /execute answer 503"
    backend.inject(spec)
    assert execute(target.url).status_code == 503
    assert httpx.get(f"{target.url}/health", timeout=30).status_code == 200  # never faulted
    assert len(admin_faults(target.url)) == 1
    backend.revert(spec)
    assert admin_faults(target.url) == []
    assert execute(target.url).status_code == 202


def test_app_latency_everywhere_then_revert(target):
    backend = HttpBackend(BackendContext())
    spec = one(kind="app-latency", url=target.url, latency="300ms")
    backend.inject(spec)
    (fault,) = admin_faults(target.url)
    assert fault["latency_ms"] == 300
    backend.revert(spec)
    assert admin_faults(target.url) == []


def test_generic_request_form(target):
    spec = one(
        kind="request",
        method="POST",
        url=f"{target.url}/admin/faults",
        json={"path": "/sessions", "error_rate": 1.0, "status": 500},
        revert={"method": "DELETE", "url": f"{target.url}/admin/faults"},
    )
    backend = HttpBackend(BackendContext())
    backend.inject(spec)
    assert [f["path"] for f in admin_faults(target.url)] == ["/sessions"]
    backend.revert(spec)
    assert admin_faults(target.url) == []


def test_errors_are_fault_errors(target):
    backend = HttpBackend(BackendContext())
    with pytest.raises(FaultError, match="HTTP 400"):
        backend.inject(
            one(kind="request", url=f"{target.url}/admin/faults", json={"latency_ms": "soon"})
        )
    with pytest.raises(FaultError, match="no url and no --host"):
        backend.inject(one(kind="app-latency", latency="1s"))
    with pytest.raises(FaultError, match=r"POST http://127\.0\.0\.1:9/admin/faults"):
        backend.inject(one(kind="app-latency", latency="1s", url="http://127.0.0.1:9"))
    assert admin_faults(target.url) == []


def test_default_url_is_the_gateway_from_target_info_not_the_proxy_host(target):
    info = str(target.data_dir / "target.json")
    backend = HttpBackend(BackendContext(host="http://127.0.0.1:9", target_info=info))
    spec = one(kind="app-error", path="/sessions")
    backend.inject(spec)
    assert [f["path"] for f in admin_faults(target.url)] == ["/sessions"]
    backend.revert(spec)
    assert admin_faults(target.url) == []


def test_recover_clears_an_app_fault_a_dead_run_left(target, tmp_path):
    from loadkit.faults.journal import FaultJournal, recover

    context = BackendContext(host=target.url)
    spec = one(kind="app-latency", latency="2s", path="/execute")
    HttpBackend(context).inject(spec)
    FaultJournal(tmp_path / "run", context, tmp_path / "fault-index").add(spec)
    assert len(admin_faults(target.url)) == 1
    results = recover(tmp_path / "fault-index")
    assert [(r.name, r.ok) for r in results] == [("app", True)]
    assert admin_faults(target.url) == []
    assert (tmp_path / "run" / "faults.journal").read_text() == ""
