"""Resource faults, the store's reconnect and the health rule, in-process (a real SQLite file)."""

from __future__ import annotations

import pytest

from loadkit.target.config import TargetConfig
from loadkit.target.internal import health_status
from loadkit.target.resfaults import ResourceFaults, StoreUnavailable, parse_resource_fault
from loadkit.target.statedb import Database


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_store_fault_drops_the_connection_and_reconnects_after_expiry(tmp_path):
    clock = FakeClock()
    faults = ResourceFaults(clock)
    db = Database(TargetConfig(data_dir=tmp_path), "CREATE TABLE IF NOT EXISTS t (x);", faults)
    db.execute("INSERT INTO t VALUES (1)")
    faults.set(parse_resource_fault({"store": "unavailable", "for_s": 5}, clock.now))
    with pytest.raises(StoreUnavailable) as info:
        db.execute("SELECT x FROM t")
    assert info.value.status == 503 and info.value.headers == {"Retry-After": "1"}
    assert faults.listing()["store"]["hits"] == 1
    assert faults.health()["store"] == {"status": "unavailable", "reconnects": 0}
    clock.now += 5
    assert [row[0] for row in db.execute("SELECT x FROM t")] == [1]  # nothing was lost
    assert faults.health()["store"] == {"status": "ok", "reconnects": 1}
    assert faults.listing() == {"store": None, "disk": None}


def test_disk_fault_until_cleared():
    faults = ResourceFaults()
    faults.set(parse_resource_fault({"disk": "full"}, 0.0))
    assert faults.disk_full() and faults.active("disk").expires_at is None
    faults.record_fallback()
    assert faults.health()["disk"] == {"status": "full", "fallback_responses": 1}
    assert faults.clear() == 1 and not faults.disk_full()
    assert faults.health()["disk"] == {"status": "ok", "fallback_responses": 1}


OK_AGENT = {"stale": False, "age_s": 0.1}
OK = {"store": {"status": "ok"}, "disk": {"status": "ok"}}


@pytest.mark.parametrize(
    ("agent", "breakers", "resources", "status"),
    [
        (OK_AGENT, {"gateway_callback": "closed"}, OK, "healthy"),
        (OK_AGENT, {"gateway_callback": "half_open"}, OK, "degraded"),
        (OK_AGENT, {"gateway_callback": "open"}, OK, "unhealthy"),
        (None, {}, OK, "unhealthy"),
        ({"stale": True, "age_s": 9.0}, {"gateway_callback": "closed"}, OK, "unhealthy"),
        (OK_AGENT, {}, {**OK, "store": {"status": "unavailable"}}, "unhealthy"),
        (OK_AGENT, {}, {**OK, "disk": {"status": "full"}}, "degraded"),
        (OK_AGENT, {"b": "open"}, {**OK, "disk": {"status": "full"}}, "unhealthy"),
    ],
)
def test_health_rule(agent, breakers, resources, status):
    found, reasons = health_status(agent, breakers, resources)
    assert found == status
    assert (reasons == []) == (status == "healthy")
    assert all(reason and "\n" not in reason for reason in reasons)
