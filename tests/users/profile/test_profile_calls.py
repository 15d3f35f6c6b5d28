"""The pieces of a YAML profile's calls: queries, body templates, request names."""

from __future__ import annotations

import jmespath
import pytest

from loadkit.users.profile.calls import Call, Query, compile_body, placeholders

DOCS = [
    {"state": "done", "a": {"b": {"c": 3}}, "items": [1, 2], "x": None},
    {"state": None, "a": "not an object"},
    {"a": {"b": [1]}},
    {},
]


@pytest.mark.parametrize(
    "expression", ["state", "a.b", "a.b.c", "items", "length(items)", "a.b[0]", "x", "nope.deeper"]
)
def test_a_query_answers_as_jmespath_does(expression: str) -> None:
    query = Query(expression)
    for doc in DOCS:
        try:
            expected = jmespath.search(expression, doc)
        except jmespath.exceptions.JMESPathError:
            continue  # length() of a missing list: JMESPath raises, so does our fallback
        assert query.search(doc) == expected, (expression, doc)


def test_plain_paths_skip_the_interpreter_and_the_rest_use_it() -> None:
    assert Query("a.b.c").keys == ("a", "b", "c")
    assert Query("length(items)").keys is None
    with pytest.raises(ValueError, match="is not a JMESPath query"):
        Query("a[?")


def test_a_body_template_keeps_types_and_leaves_out_missing_values(monkeypatch) -> None:
    monkeypatch.setenv("LK_T", "tok")
    build = compile_body(
        {"id": "{id}", "n": "{n}", "text": "say {text}", "fixed": 1, "env": "${LK_T}",
         "list": ["{id}", {"deep": "{n}"}], "gone": "{missing}"}
    )  # fmt: skip
    assert build({"id": "j1", "n": 5, "text": "hi", "missing": None}) == {
        "id": "j1", "n": 5, "text": "say hi", "fixed": 1, "env": "tok",
        "list": ["j1", {"deep": 5}],
    }  # fmt: skip


def test_request_names_show_the_template_not_the_values() -> None:
    call = Call("GET", "/status/{id}/x/${LK_SECRET}")
    assert call.name == "/status/[id]/x/${LK_SECRET}"
    assert placeholders("/a/{id}/${ENV}") == {"id"}
    with pytest.raises(ValueError):
        placeholders("/a/{id!r}")


def test_server_timestamps_as_numbers_or_iso_text() -> None:
    from loadkit.users.profile.api import JobState

    def times(created: object, started: object, completed: object) -> tuple[object, ...]:
        job = JobState.from_stamps(
            "completed", "done", None, {}, created=created, started=started, completed=completed
        )
        return job.server_ms, job.queue_ms, job.run_ms

    assert times(100.0, 100.05, 100.25) == pytest.approx((250.0, 50.0, 200.0))
    assert times("2026-11-30T10:00:00Z", None, "2026-11-30T10:00:01.5Z") == (1500.0, None, None)
    assert times("2026-11-30T10:00:00+01:00", None, "2026-11-30T09:00:02+00:00")[0] == 2000.0
    assert times(None, None, 1.0) == (None, None, None)
    assert times("soon", 1.0, 2.0) == (None, None, 1000.0)
    assert times(5.0, 4.0, 6.0)[1] == 0.0  # a clock step back is no negative wait
