"""/metrics as an operator's dashboards and alerts need it from the first scrape: the
process's own collectors, syncd_build_info, every label set at zero, per-store lag since
the store's own last pull, circuit state, and whether this replica leads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from syncd import __version__
from syncd.config import Settings
from syncd.cycle import REPLICA, CycleReport
from syncd.daemon import Daemon
from syncd.ledger import StoreHealth
from syncd.ledger.tables import CycleRow
from syncd.metrics import Metrics


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_every_series_exists_from_the_first_scrape():
    got = samples(Metrics(["shop", "wix"]))
    names = {name for name, _ in got}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"} <= names
    assert got[("syncd_build_info", (("version", __version__),))] == 1
    for outcome in ("ok", "failed", "error", "skipped_locked", "skipped_recent"):
        assert got[("syncd_cycles_total", (("outcome", outcome),))] == 0
    for store in ("shop", "wix"):
        for outcome in ("applied", "deferred", "rejected", "unknown"):
            assert got[("syncd_writes_total", (("outcome", outcome), ("store", store)))] == 0
        assert got[("syncd_circuit_open", (("store", store),))] == 0
        assert got[("syncd_store_lag_seconds", (("store", store),))] >= 0
    assert got[("syncd_open_conflicts", (("kind", "oversold"),))] == 0
    assert got[("syncd_open_conflicts", (("kind", "unknown_outcome"),))] == 0


def test_lag_counts_from_the_stores_own_pull_and_circuits_follow_the_ledger():
    metrics = Metrics(["shop"])
    pulled = datetime.now(UTC) - timedelta(seconds=120)
    report = CycleReport(cycle_id=1, dry_run=False, pulled={"shop": 3}, pulled_at={"shop": pulled})
    metrics.observe(report, 1.0, datetime.now(UTC).timestamp())
    lag = samples(metrics)[("syncd_store_lag_seconds", (("store", "shop"),))]
    assert 119 <= lag <= 130  # since the pull ended, not since the cycle was observed
    now = datetime.now(UTC)
    metrics.set_circuits({"shop": StoreHealth("shop", 5, now + timedelta(minutes=1))}, ["shop"], now)
    assert samples(metrics)[("syncd_circuit_open", (("store", "shop"),))] == 1
    metrics.set_circuits({}, ["shop"], now)
    assert samples(metrics)[("syncd_circuit_open", (("store", "shop"),))] == 0


async def test_a_replica_defers_to_one_that_cycled_within_the_interval(tmp_path, monkeypatch):
    monkeypatch.setenv("TOK", "x")
    settings = Settings(ledger={"url": f"sqlite:///{tmp_path}/l.db"}, sync={"interval_seconds": 300},
                        stores=[{"name": "s", "platform": "squarespace", "token_env": "TOK"}])
    daemon = Daemon(settings)
    from syncd.ledger import upgrade

    upgrade(daemon.engine)
    now = datetime.now(UTC)

    def cycle(runner: str, ago: float, kind: str = "full", outcome: str = "ok") -> None:
        with daemon.engine.begin() as conn:
            conn.execute(insert(CycleRow.__table__).values(  # type: ignore[attr-defined]
                started_at=now - timedelta(seconds=ago + 5), finished_at=now - timedelta(seconds=ago),
                outcome=outcome, kind=kind, runner=runner, stores_pulled=1, stores_failed=0, observations=0,
                journal_rows=0, writes_planned=0, writes_applied=0, writes_rejected=0, writes_unknown=0, conflicts=0))

    assert daemon._recent_leader() is None  # nobody cycled yet
    cycle("other-host:7", ago=400)
    assert daemon._recent_leader() is None  # too long ago: the other replica stopped
    cycle("other-host:7", ago=60)
    assert daemon._recent_leader() == "other-host:7"
    await daemon._full_cycle()  # skipped: no store is asked anything
    got = samples(daemon.metrics)
    assert got[("syncd_cycles_total", (("outcome", "skipped_recent"),))] == 1 and got[("syncd_leader", ())] == 0
    cycle("other-host:7", ago=10, kind="targeted")  # targeted cycles do not lead
    assert daemon._recent_leader() == "other-host:7"
    cycle(REPLICA, ago=5)
    assert daemon._recent_leader() is None  # this replica leads
    daemon.engine.dispose()
