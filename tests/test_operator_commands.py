"""`syncd conflicts` and `syncd history` on a ledger that has seen real cycles."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from syncd.cli import app
from syncd.http import RetryPolicy
from syncd.service import reconcile_once
from syncd.testing import FakeClock
from syncd.testing.pool import SquarespacePool


@pytest.fixture
async def ledger_with_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ledger_url: str) -> Path:
    """Three cycles: a seed, a sale, a missing SKU; returns a config file naming the ledger."""
    clock = FakeClock()
    pool = SquarespacePool({"a": {"JAM": 9, "TEA": 4}, "b": {"JAM": 7}}, clock=clock)
    for k, v in pool.env().items():
        monkeypatch.setenv(k, v)
    settings = pool.settings(ledger_url)
    retry = RetryPolicy(rng=random.Random(1))
    await reconcile_once(settings, clock, transports=pool.transports(), retry=retry)
    pool["a"].sell("JAM", 2)
    await reconcile_once(settings, clock, transports=pool.transports(), retry=retry)
    config = tmp_path / "syncd.toml"
    config.write_text(f'[ledger]\nurl = "{ledger_url}"\n[[stores]]\nname = "a"\nplatform = "squarespace"\n'
                      'token_env = "NOT_NEEDED_FOR_READING"\n')
    return config


def invoke(config: Path, *args: str):
    return CliRunner().invoke(app, ["--config", str(config), *args])


async def test_conflicts_lists_what_the_rules_could_not_resolve(ledger_with_history):
    """TEA is missing from store b: one open conflict, in a table and as JSON; no token needed."""
    result = invoke(ledger_with_history, "conflicts", "--open", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["kind"], r["store"], r["sku"], r["status"]) for r in rows] == [("missing", "b", "TEA", "open")]
    table = invoke(ledger_with_history, "conflicts")
    assert table.exit_code == 0 and "missing" in table.output and "TEA" in table.output


async def test_history_shows_the_journal_and_the_writes_of_one_sku(ledger_with_history):
    """JAM: seeded at 7, written to a, then a's sale recorded and pushed to b."""
    result = invoke(ledger_with_history, "history", "JAM", "--json")
    assert result.exit_code == 0, result.output
    h = json.loads(result.output)
    assert h["available"] == 5
    journal = [(e["store"], e["detail"]["delta"], e["detail"]["reason"]) for e in h["events"] if e["what"] == "journal"]
    assert journal == [(None, 7, "seed:min"), ("a", -2, "sale")]
    writes = [(e["store"], e["detail"]["before"], e["detail"]["target"], e["detail"]["status"])
              for e in h["events"] if e["what"] == "write"]
    assert writes == [("a", 9, 7, "applied"), ("b", 7, 5, "applied")]
    assert invoke(ledger_with_history, "history", "JAM").exit_code == 0
    missing = invoke(ledger_with_history, "history", "NOPE")
    assert missing.exit_code == 1 and "not in the ledger" in missing.output


async def test_status_reports_each_store_and_the_last_cycle(ledger_with_history):
    """Per store: last pull, items, writes by outcome, open conflicts; the last cycle."""
    result = invoke(ledger_with_history, "status", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["last_cycle"]["outcome"] == "ok" and data["last_cycle"]["exit_code"] == 0
    a = data["stores"]["a"]
    assert a["items"] == 2 and a["writes"] == {"applied": 1} and a["last_pull"] is not None
    assert a["failures_in_a_row"] == 0 and a["circuit_open_until"] is None


async def test_export_as_csv_and_json(ledger_with_history):
    """SKU, available, and per store expected and remote id."""
    as_json = json.loads(invoke(ledger_with_history, "export", "--format", "json").output)
    jam = next(r for r in as_json if r["sku"] == "JAM")
    assert jam["available"] == 5 and jam["stores"]["a"]["expected"] == 5
    lines = invoke(ledger_with_history, "export").output.splitlines()
    assert lines[0] == "sku,available,a_expected,a_remote_id"
    assert lines[1].startswith("JAM,5,5,")
    assert invoke(ledger_with_history, "export", "--format", "xml").exit_code == 2


async def test_import_aliases_checks_the_csv_and_is_used_by_the_next_cycle(ledger_with_history, tmp_path):
    """A bad CSV is refused with the line named; a good one is stored in the ledger."""
    bad = tmp_path / "bad.csv"
    bad.write_text("store,store_sku,canonical_sku\nzz,X,Y\n")
    result = invoke(ledger_with_history, "import-aliases", str(bad))
    assert result.exit_code == 2 and "line 2" in result.output
    good = tmp_path / "good.csv"
    good.write_text("store,store_sku,canonical_sku\na,JAM-OLD,JAM\n")
    assert invoke(ledger_with_history, "import-aliases", str(good)).exit_code == 0
    from syncd.config import load_settings
    from syncd.ledger import make_engine
    from syncd.ledger.aliases import load_aliases

    engine = make_engine(load_settings(ledger_with_history).ledger.url)
    assert load_aliases(engine) == {"a": {"JAM-OLD": "JAM"}}


async def test_status_table_shows_the_last_push_and_a_dry_run_shows_what_it_detected(ledger_with_history,
                                                                                      monkeypatch):
    """`syncd status` on a terminal has a last-push column; `reconcile --dry-run` lists the
    sales and restocks it detected, not only the writes it would make."""
    import sys

    import syncd.cli as cli_module
    from syncd.core import JournalEntry, Plan

    monkeypatch.setattr(cli_module.State, "config", ledger_with_history)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setattr(cli_module.out, "width", 200)
    with cli_module.out.capture() as table:
        cli_module.status(as_json=False, pool="default")
    assert "last push" in table.get() and "2026-01-01" in table.get()
    report = cli_module.CycleReport(cycle_id=None, dry_run=True)
    report.plan = Plan(journal=(JournalEntry("JAM", "a", -2, "sale"), JournalEntry("TEA", "b", 3, "restock"),
                                JournalEntry("OIL", None, 5, "seed:min")),
                       available={}, items={}, removed=frozenset(), adjustments=(), conflicts=())
    with cli_module.out.capture() as plan:
        cli_module._print_plan(report)
    text = plan.get()
    assert "Changes detected on the stores" in text and "-2" in text and "+3" in text and "OIL" not in text
