"""The open (arrival-rate) model: loadkit.load.arrival."""

from __future__ import annotations

import gevent
import locust  # noqa: F401  (gevent patching, as in a Locust process)
import pytest

from loadkit.errors import ConfigError
from loadkit.load.arrival import ArrivalRate, IterationDropped


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def fire(self, *, reverse: bool = False, **kwargs) -> None:
        self.events.append(kwargs)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: ArrivalRate(rate_per_s=0), "arrival.rate_per_s"),
        (lambda: ArrivalRate(rate_per_s=5, max_in_flight=0), "arrival.max_in_flight"),
    ],
)
def test_invalid_parameters_raise_config_error_naming_the_field(build, field) -> None:
    with pytest.raises(ConfigError) as info:
        build()
    assert info.value.field == field
    assert "\n" not in str(info.value) and info.value.fix


def test_arrival_rate_starts_the_scheduled_count_and_fires_iter_events() -> None:
    hook = Recorder()
    calls: list[int] = []
    started, dropped = ArrivalRate(rate_per_s=50, duration_s=0.5, name="echo").run(
        lambda: calls.append(1), hook
    )
    assert (started, dropped) == (25, 0) and len(calls) == 25
    assert [e["name"] for e in hook.events] == ["echo"] * 25
    assert all(e["request_type"] == "ITER" and e["exception"] is None for e in hook.events)


def test_arrival_rate_counts_iterations_that_could_not_start_on_time() -> None:
    hook = Recorder()
    started, dropped = ArrivalRate(rate_per_s=40, max_in_flight=1, duration_s=0.5).run(
        lambda: gevent.sleep(1), hook
    )
    assert started + dropped == 20 and started >= 1 and dropped >= 10
    drops = [e for e in hook.events if e["name"] == "iteration dropped"]
    assert len(drops) == dropped
    assert all(isinstance(e["exception"], IterationDropped) for e in drops)
    assert all(e["response_time"] is None for e in drops)  # never ran: no response time


def test_arrival_rate_iteration_errors_are_failures_not_crashes() -> None:
    hook = Recorder()

    def boom() -> None:
        raise RuntimeError("broken check")

    ArrivalRate(rate_per_s=20, duration_s=0.2).run(boom, hook)
    assert len(hook.events) == 4
    assert all(isinstance(e["exception"], RuntimeError) for e in hook.events)


@pytest.mark.parametrize(("correct", "second_ms"), [(True, 9900.0), (False, 5000.0)])
def test_latency_from_the_intended_start_corrects_coordinated_omission(correct, second_ms):
    """A fake clock: each iteration takes 5 s, so the second one starts 4.9 s late."""
    now = [100.0]

    def slow_iteration() -> None:
        now[0] += 5.0

    hook = Recorder()
    ArrivalRate(rate_per_s=10, duration_s=0.2, correct_omission=correct).run(
        slow_iteration, hook, clock=lambda: now[0]
    )
    times = [round(e["response_time"], 3) for e in hook.events]
    assert times == [5000.0, second_ms]


def test_open_model_user_runs_its_schedule_inside_a_real_locust_environment() -> None:
    from locust import constant
    from locust.env import Environment

    from loadkit.load.arrival import OpenModelUser

    done: list[float] = []

    class Ticker(OpenModelUser):
        wait_time = constant(0)
        arrival = ArrivalRate(rate_per_s=20, duration_s=0.5, name="tick")

        def iteration(self) -> None:
            done.append(1.0)

    env = Environment(user_classes=[Ticker])
    runner = env.create_local_runner()
    try:
        runner.start(2, spawn_rate=2)
        deadline = gevent.get_hub().loop.now() + 60
        while len(done) < 20 and gevent.get_hub().loop.now() < deadline:
            gevent.sleep(0.1)
    finally:
        runner.quit()
    assert len(done) == 20  # 2 users x 10 iterations, then each idles until stopped
    assert env.stats.get("tick", "ITER").num_requests == 20
    assert env.stats.get("tick", "ITER").num_failures == 0
