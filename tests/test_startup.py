"""What an operator meets when `syncd run` cannot start: one line naming the address and
the cause, a documented exit status (3: cannot listen; 2: bad configuration or option)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from syncd.config import Settings

ENV = {**os.environ, "TOK": "secret-token"}


def syncd(tmp_path: Path, listen: str, *args: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[ledger]\nurl = "sqlite:///{tmp_path}/l.db"\n[daemon]\nlisten = "{listen}"\n'
                   '[[stores]]\nname = "one"\nplatform = "squarespace"\nbase_url = "http://127.0.0.1:9"\n'
                   'token_env = "TOK"\n')
    *options, command = args
    return subprocess.run([sys.executable, "-m", "syncd", "--config", str(cfg), *options, command],
                          capture_output=True,
                          text=True, env=ENV, timeout=60, check=False)


def test_a_port_in_use_is_one_line_and_exit_3(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = syncd(tmp_path, f"127.0.0.1:{port}", "run")
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [f"cannot listen on 127.0.0.1:{port}: Address already in use "
                                                  f"(while attempting to bind on address ('127.0.0.1', {port}))"] \
        or (len(result.stderr.strip().splitlines()) == 1 and "in use" in result.stderr)
    assert "Traceback" not in result.stderr + result.stdout


def test_an_unresolvable_host_is_one_line_and_exit_3(tmp_path):
    result = syncd(tmp_path, "no-such-host.invalid:8787", "run")
    assert result.returncode == 3, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "no-such-host.invalid:8787" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("listen", ["127.0.0.1:99999", "127.0.0.1:0", "::1:8787", "127.0.0.1"])
def test_a_bad_address_is_a_configuration_error(tmp_path, listen):
    result = syncd(tmp_path, listen, "run")
    assert result.returncode == 2 and "configuration error" in result.stderr and "daemon.listen" in result.stderr
    assert "Traceback" not in result.stderr


def test_ipv6_addresses_are_accepted():
    settings = Settings(daemon={"listen": "[::1]:8787", "webhook_listen": "[::]:8443"},
                        stores=[{"name": "s", "platform": "squarespace", "token_env": "TOK"}])
    assert (settings.daemon.host, settings.daemon.port) == ("::1", 8787)


def test_a_bad_option_is_exit_2_with_the_valid_values(tmp_path):
    result = syncd(tmp_path, "127.0.0.1:8787", "--log-level", "verbose", "status")
    assert result.returncode == 2
    assert "'debug', 'info', 'warning', 'error'" in result.stderr and "Traceback" not in result.stderr
