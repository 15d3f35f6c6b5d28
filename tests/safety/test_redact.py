"""loadkit.safety.redact: secrets masked in text and JSON-like values, ${ENV} kept as written."""

from __future__ import annotations

import logging

import pytest

from loadkit.safety.redact import MASK, expand_env, install_log_filter, redact_text, redact_value


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET http://alice:s3cret@127.0.0.1:8080/admin", "s3cret"),
        ("POST https://127.0.0.1/x?token=abc123&page=2", "abc123"),
        ("Authorization: Bearer eyJhbGciOi", "eyJhbGciOi"),
        ('{"cookie": "session=deadbeef"}', "deadbeef"),
        ("X-Api-Key=k-998877", "k-998877"),
    ],
)
def test_secrets_in_free_text_are_masked(text: str, secret: str) -> None:
    out = redact_text(text)
    assert secret not in out
    assert MASK in out


def test_plain_text_and_env_references_are_left_as_written() -> None:
    assert redact_text("GET http://127.0.0.1:8080/status?page=2") == (
        "GET http://127.0.0.1:8080/status?page=2"
    )
    assert redact_text("http://${USER}:${PASS}@127.0.0.1/") == "http://${USER}:${PASS}@127.0.0.1/"
    assert redact_text("Authorization: Bearer ${TOKEN}") == "Authorization: Bearer ${TOKEN}"


def test_values_named_like_secrets_are_masked_at_any_depth() -> None:
    value = {
        "url": "http://bob:pw@127.0.0.1/",
        "headers": {"Authorization": "Basic Ym9iOnB3", "X-Trace": "t-1"},
        "body": [{"password": "hunter2"}, {"api_token": 12345}, {"client_secret": "${SECRET}"}],
    }
    out = redact_value(value)
    flat = repr(out)
    for secret in ("pw@", "Ym9iOnB3", "hunter2", "12345"):
        assert secret not in flat
    assert out["headers"]["X-Trace"] == "t-1"
    assert out["body"][2]["client_secret"] == "${SECRET}"
    assert value["headers"]["Authorization"] == "Basic Ym9iOnB3"  # a copy: the input is untouched


def test_env_references_expand_only_at_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOADKIT_TEST_TOKEN", "tok-42")
    monkeypatch.delenv("LOADKIT_TEST_UNSET", raising=False)
    value = {"h": ["Bearer ${LOADKIT_TEST_TOKEN}", "${LOADKIT_TEST_UNSET}"]}
    assert expand_env(value) == {"h": ["Bearer tok-42", ""]}
    assert value == {"h": ["Bearer ${LOADKIT_TEST_TOKEN}", "${LOADKIT_TEST_UNSET}"]}


def test_the_log_filter_masks_records_of_the_named_loggers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_log_filter("loadkit.test.redact")
    logger = logging.getLogger("loadkit.test.redact")
    with caplog.at_level(logging.INFO, logger="loadkit.test.redact"):
        logger.info("HTTP Request: POST %s", "http://u:topsecret@127.0.0.1/admin/faults")
    assert "topsecret" not in caplog.text
    assert MASK in caplog.text
