"""Secrets never reach a log line."""

from __future__ import annotations

import json

import structlog

from syncd.observability import RedactSecrets, configure_logging


def test_known_secrets_and_sensitive_keys_are_redacted():
    """A token inside a message, a nested dict or a list, and any 'authorization' value."""
    redact = RedactSecrets(["tok-123-secret"])
    event = redact(None, "info", {"event": "x", "error": "401 for tok-123-secret",
                                  "headers": {"Authorization": "Bearer abc"}, "items": ["tok-123-secret"]})
    assert event == {"event": "x", "error": "401 for [REDACTED]", "headers": {"Authorization": "[REDACTED]"},
                     "items": ["[REDACTED]"]}


def test_configured_logging_is_json_on_stderr_and_redacted(capsys):
    """Off a terminal: one JSON object per line on stderr, stdout untouched."""
    configure_logging(["s3cr3t-value"], json=True)
    structlog.get_logger().info("pull.failed", error="token s3cr3t-value refused", store="a")
    captured = capsys.readouterr()
    assert captured.out == ""
    line = json.loads(captured.err.strip())
    assert line["event"] == "pull.failed" and "s3cr3t" not in captured.err
