"""Logs: every line is one JSON object (syncd's events and every library's records, with
their tracebacks inside), secrets never reach a line, and under systemd each line carries
its syslog priority."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog

from syncd.observability import RedactSecrets, configure_logging, journal_priority, stderr_is_journal
from syncd.testing.pool import SquarespacePool
from syncd.testing.serve import free_port, serve
from tests.test_daemon import STOCK, blocking_write, settings_for, start, wait_for, write_config


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging changes the root logger: put it back for the other tests."""
    root = logging.getLogger()
    handlers, level, hook = list(root.handlers), root.level, sys.excepthook
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    sys.excepthook = hook
    logging.captureWarnings(False)


def json_lines(err: str) -> list[dict[str, object]]:
    """Every line must be a JSON object: a plain-text line fails here."""
    lines = err.splitlines()
    assert lines, "nothing was logged"
    out = []
    for line in lines:
        try:
            out.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\nin:\n{err}") from None
    return out


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


def test_a_stdlib_error_with_a_traceback_is_exactly_one_json_line(capsys):
    """A library's logger.exception (APScheduler's 'Job raised an exception') is one JSON
    object: the traceback in its "exception" field, the secret in it redacted."""
    configure_logging(["s3cr3t-value"], json=True)
    try:
        raise RuntimeError("refused token s3cr3t-value")
    except RuntimeError:
        logging.getLogger("apscheduler.executors.default").exception('Job "Daemon._job" raised an exception')
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    (line,) = json_lines(err)
    assert line["level"] == "error" and line["logger"] == "apscheduler.executors.default"
    assert line["event"] == 'Job "Daemon._job" raised an exception'
    assert "Traceback (most recent call last)" in str(line["exception"])
    assert "RuntimeError: refused token [REDACTED]" in str(line["exception"])
    assert "s3cr3t" not in err


def test_every_library_record_and_syncd_event_is_json_and_library_chatter_is_dropped(capsys):
    """uvicorn, asyncio, httpx and warnings records all come out as JSON; libraries' INFO
    (httpx logs every request) is dropped at the default level, syncd's INFO is not; a
    structlog .exception() carries its traceback in the same one line."""
    configure_logging([], json=True)
    logging.getLogger("uvicorn.error").error("[Errno 98] address already in use")
    logging.getLogger("asyncio").warning("Task exception was never retrieved")
    logging.getLogger("httpx").info('HTTP Request: GET https://example.test "HTTP/1.1 200 OK"')
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        logging.captureWarnings(True)
        warnings.warn("a library's deprecation", DeprecationWarning, stacklevel=1)
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        structlog.get_logger("syncd.daemon").exception("cycle.crashed", store="a")
    lines = json_lines(capsys.readouterr().err)
    by_event = {str(line["event"]): line for line in lines}
    assert by_event["[Errno 98] address already in use"]["logger"] == "uvicorn.error"
    assert by_event["Task exception was never retrieved"]["level"] == "warning"
    assert not any("HTTP Request" in e for e in by_event)
    assert any("a library's deprecation" in e for e in by_event)
    crashed = by_event["cycle.crashed"]
    assert crashed["level"] == "error" and "ZeroDivisionError" in str(crashed["exception"])


def test_an_uncaught_exception_ends_the_process_as_one_json_line(tmp_path):
    """A crash nobody caught: one JSON line, not a bare traceback."""
    script = ("from syncd.observability import configure_logging\n"
              "configure_logging(['s3cr3t-value'], json=True)\n"
              "raise RuntimeError('boom s3cr3t-value')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 1
    (line,) = json_lines(result.stderr)
    assert line["level"] == "critical" and "RuntimeError: boom [REDACTED]" in str(line["exception"])


def test_under_systemd_each_line_starts_with_its_syslog_priority(capsys):
    """sd-daemon(3) prefixes: journald files each line at its own priority."""
    assert [journal_priority(n) for n in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR,
                                          logging.CRITICAL)] == [7, 6, 4, 3, 2]
    configure_logging([], level="debug", json=True, journal=True)
    log = structlog.get_logger()
    log.debug("a"), log.info("b"), log.warning("c"), log.error("d")
    logging.getLogger("apscheduler.scheduler").error("e")
    lines = capsys.readouterr().err.splitlines()
    assert [ln[:4] for ln in lines] == ["<7>{", "<6>{", "<4>{", "<3>{", "<3>{"]
    assert [json.loads(ln[3:])["event"] for ln in lines] == ["a", "b", "c", "d", "e"]


def test_the_journal_is_recognised_by_the_device_and_inode_of_stderr(tmp_path, monkeypatch):
    """$JOURNAL_STREAM counts only while stderr is that stream (not once redirected)."""
    with (tmp_path / "err").open("w") as f:
        st = os.fstat(f.fileno())
        monkeypatch.setattr(sys, "stderr", f)
        assert stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
        assert not stderr_is_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino + 1}"})
        assert not stderr_is_journal({})
        assert not stderr_is_journal({"JOURNAL_STREAM": "garbage"})


DAEMON_SERVER = """
import asyncio, logging
from starlette.applications import Starlette
from syncd.observability import configure_logging
from syncd.serving import start_server, stop_servers
from syncd.testing.serve import free_port
configure_logging([], json=True)
async def main():
    served = await start_server(Starlette(), "127.0.0.1:%d" % free_port())
    logging.getLogger("uvicorn.error").error("probe from uvicorn's logger")
    await stop_servers([served])
asyncio.run(main())
"""


def test_the_daemons_http_server_logs_through_the_json_stream():
    """uvicorn's default log_config installs its own plain-text handlers: the daemon's
    server (syncd.serving) must log through the root logger like everything else."""
    result = subprocess.run([sys.executable, "-c", DAEMON_SERVER], capture_output=True, text=True,
                            timeout=30, check=False)
    lines = json_lines(result.stderr)
    assert any(line.get("logger") == "uvicorn.error" and line["level"] == "error" for line in lines), result.stderr


def test_a_double_sigterm_mid_write_logs_only_json_lines(tmp_path):
    """The issue's case: a second SIGTERM cancels the cycle in flight, APScheduler logs
    the cancelled job with its traceback — as one JSON line, like every other line."""
    pool = SquarespacePool(STOCK)
    in_write, release, slow_write = blocking_write(20)
    with serve(pool["north"].app) as north, serve(pool["south"].app) as south:
        port = free_port()
        settings = settings_for(pool, f"sqlite:///{tmp_path}/l.db", port, {"north": north, "south": south})
        write_config(tmp_path / "syncd.toml", settings)
        proc = start(tmp_path / "syncd.toml", pool.env())
        try:
            wait_for(lambda: _ready(port), 20, "/readyz")
            pool["south"].before_write.append(slow_write)
            pool["north"].sell("OIL", 2)
            assert in_write.wait(10), "the daemon never wrote"
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 1
        finally:
            release.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        err = proc.stderr.read() if proc.stderr else ""
    lines = json_lines(err)
    events = [str(line["event"]) for line in lines]
    assert "daemon.forced_stop" in events and events[-1] == "daemon.stopped"
    assert any("CancelledError" in str(line.get("exception", "")) for line in lines), err


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_stderr_is_read_at_each_line_not_at_configuration(capsys, tmp_path):
    """A handler that kept the stderr of its configuration time would write to a closed
    stream after a test runner (or a redirect) swapped it."""
    configure_logging([], json=True)
    path = Path(tmp_path / "later")
    with path.open("w") as f:
        sys.stderr, saved = f, sys.stderr
        try:
            logging.getLogger("apscheduler").error("late")
        finally:
            sys.stderr = saved
    assert json.loads(path.read_text())["event"] == "late"
