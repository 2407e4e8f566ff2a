"""Configuration: the documented contract, env overrides, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from syncd.config import load_settings, resolve_token
from syncd.core import InitialPolicy
from syncd.errors import ConfigError

GOOD = """
[ledger]
url = "sqlite:///x.db"

[sync]
interval_seconds = 60
initial = "master"
master = "a"

[[stores]]
name = "a"
platform = "squarespace"
base_url = "http://127.0.0.1:9001"
token_env = "A_TOKEN"
buffer = 2

[[stores]]
name = "b"
platform = "squarespace"
token_file = "b.token"
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "syncd.toml"
    p.write_text(text)
    return p


def test_the_documented_example_loads(tmp_path):
    """Every name in the contract parses into frozen typed models."""
    s = load_settings(write(tmp_path, GOOD))
    assert s.sync.initial is InitialPolicy.MASTER and s.sync.master == "a"
    assert [st.name for st in s.stores] == ["a", "b"] and s.stores[0].buffer == 2
    with pytest.raises(ValidationError):
        s.stores[0].buffer = 3  # type: ignore[misc]


def test_the_shipped_example_config_is_valid():
    """config/syncd.toml in the repository is a working configuration."""
    s = load_settings(Path(__file__).parents[1] / "config" / "syncd.toml")
    assert s.stores


def test_env_overrides_the_file(tmp_path, monkeypatch):
    """SYNCD_LEDGER__URL beats ledger.url."""
    monkeypatch.setenv("SYNCD_LEDGER__URL", "postgresql+psycopg://u@h/db")
    assert load_settings(write(tmp_path, GOOD)).ledger.url == "postgresql+psycopg://u@h/db"


def test_syncd_config_env_names_the_file(tmp_path, monkeypatch):
    """Without --config, SYNCD_CONFIG says where the file is."""
    monkeypatch.setenv("SYNCD_CONFIG", str(write(tmp_path, GOOD)))
    assert len(load_settings().stores) == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('buffer = 2', 'buffer = -1'), r"stores\[0\] \('a'\)\.buffer"),
        (('platform = "squarespace"\nbase', 'platform = "etsy"\nbase'), r"stores\[0\] \('a'\)\.platform"),
        (('token_env = "A_TOKEN"', ''), "exactly one of token_env or token_file"),
        (('master = "a"', 'master = "zz"'), "not the name of a configured store"),
        (('initial = "master"', 'initial = "median"'), r"sync\.initial"),
        (('interval_seconds = 60', 'interval_seconds = 0'), r"sync\.interval_seconds"),
        (('name = "b"', 'name = "a"'), "repeated: a"),
        (('[sync]', '[synk]'), "synk"),
        (('url = "sqlite:///x.db"', 'url = '), "not valid TOML"),
    ],
)
def test_bad_configs_name_the_field(tmp_path, change, message):
    """Every bad input is a ConfigError that says where."""
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, GOOD.replace(*change)))


def test_a_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_tokens_come_from_env_or_file_and_never_appear_in_errors(tmp_path, monkeypatch):
    """A token is read from its variable or file; errors name the source, not the value."""
    s = load_settings(write(tmp_path, GOOD.replace('token_file = "b.token"', f'token_file = "{tmp_path}/b.token"')))
    with pytest.raises(ConfigError, match="A_TOKEN is not set"):
        resolve_token(s.stores[0])
    monkeypatch.setenv("A_TOKEN", "hunter2-token")
    assert resolve_token(s.stores[0]).get_secret_value() == "hunter2-token"
    assert "hunter2" not in repr(resolve_token(s.stores[0]))
    with pytest.raises(ConfigError, match="cannot be read"):
        resolve_token(s.stores[1])
    (tmp_path / "b.token").write_text("file-token\n")
    assert resolve_token(s.stores[1]).get_secret_value() == "file-token"


def test_relative_token_files_resolve_in_the_credentials_directory(tmp_path, monkeypatch):
    """systemd LoadCredential: token_file names a credential."""
    (tmp_path / "b.token").write_text("cred")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    s = load_settings(write(tmp_path, GOOD))
    assert resolve_token(s.stores[1]).get_secret_value() == "cred"


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ('platform = "bigcommerce"\ntoken_env = "T"', "needs store_hash"),
        ('platform = "squarespace"\ntoken_env = "T"\nstore_hash = "x"', "for bigcommerce stores only"),
        ('platform = "squarespace"\ntoken_env = "T"\nwrite_mode = "relative"', "write_mode is fixed"),
        ('platform = "bigcommerce"\ntoken_env = "T"\nstore_hash = "a/b"', "store_hash"),
        ('platform = "saasignal"\ntoken_env = "T"\nwrite_mode = "sideways"', "write_mode"),
    ],
)
def test_platform_specific_settings_are_checked(tmp_path, store, message):
    """BigCommerce needs its store hash; options of one platform are refused on another."""
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, f'[[stores]]\nname = "s"\n{store}\n'))


def test_bigcommerce_and_saasignal_settings_load(tmp_path):
    """The documented BigCommerce and SaaSignal entries parse."""
    s = load_settings(write(tmp_path, '[[stores]]\nname = "bc"\nplatform = "bigcommerce"\nstore_hash = "abc123"\n'
                                      'token_env = "T"\nlocation_id = 2\nwrite_mode = "relative"\n'
                                      'apply_lag_seconds = 5\n[[stores]]\nname = "ss"\nplatform = "saasignal"\n'
                                      'token_env = "U"\n'))
    assert s.stores[0].store_hash == "abc123" and s.stores[0].write_mode == "relative"
    assert s.stores[1].write_mode is None  # the platform's default: absolute after a fresh read
    from syncd.connectors import capabilities_of
    from syncd.core import WriteStrategy
    assert capabilities_of(s.stores[1]).strategy is WriteStrategy.ABSOLUTE_FRESH_READ


def test_a_misspelt_syncd_variable_is_named_not_silently_ignored():
    from syncd.config import unknown_env

    env = {"SYNCD_LEDGER_URL": "x", "SYNCD_DEAMON__LISTEN": "x", "SYNCD_LEDGER__URL": "ok", "SYNCD_CONFIG": "ok",
           "SYNCD_SYNC__INTERVAL_SECONDS": "5", "SYNCD_TEST_PG_URL": "ok", "SYNCD_WHATEVER": "x", "HOME": "/"}
    assert unknown_env(env) == [
        "SYNCD_DEAMON__LISTEN sets nothing (did you mean SYNCD_DAEMON__LISTEN?)",
        "SYNCD_LEDGER_URL sets nothing (did you mean SYNCD_LEDGER__URL?)",
        "SYNCD_WHATEVER sets nothing (settings are SYNCD_SECTION__FIELD, e.g. SYNCD_LEDGER__URL)",
    ]


def test_the_cli_warns_about_a_misspelt_variable(tmp_path):
    import os
    import subprocess
    import sys

    cfg = tmp_path / "c.toml"
    cfg.write_text('[[stores]]\nname = "one"\nplatform = "squarespace"\ntoken_env = "TOK"\n')
    result = subprocess.run([sys.executable, "-m", "syncd", "--config", str(cfg), "status"], capture_output=True,
                            text=True, env={**os.environ, "SYNCD_LEDGER_URL": f"sqlite:///{tmp_path}/x.db"},
                            timeout=60, check=False)
    assert "SYNCD_LEDGER_URL sets nothing (did you mean SYNCD_LEDGER__URL?); it is ignored" in result.stderr
