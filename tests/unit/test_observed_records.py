"""History records, the status document and the metric families: values in, values out."""

from __future__ import annotations

import json
import re
from pathlib import Path

from test_growth import START, SimulatedTrainer, policy

from ckptguard.core import growth, rhythm
from ckptguard.core.decisions import Outcome, Result, Status
from ckptguard.core.history import deletion_records, select, shortfall_record
from ckptguard.core.measures import CATALOGUE, Counters, families
from ckptguard.core.status import Observed, directory_status

MB = 10**6
CONTRIB = Path(__file__).resolve().parents[2] / "contrib"


def made_plan():
    trainer = SimulatedTrainer(10_000 * MB, 100 * MB, 1.0, 0.0, policy(keep=2))
    for tick in range(1, 5):
        trainer.advance(1.0, START + tick)
    return trainer.plan(START + 5)


def test_deletion_records_name_the_rule_and_the_facts() -> None:
    """One record per deletion done or failed, with the rule it was made for."""
    plan = made_plan()
    results = tuple(Result(d, Status.DELETED, free_after=1) for d in plan.deletions) + tuple(
        Result(d, Status.SKIPPED) for d in plan.deletions
    )
    records = deletion_records(Outcome(plan, results), START + 5)
    assert [r["step"] for r in records] == [d.checkpoint.step for d in plan.deletions]
    assert {r["reason"] for r in records} == {"beyond_keep"}
    assert all(r["event"] == "deleted" and r["dir"] == "models" for r in records)
    json.dumps(records)


def test_select_by_time_and_directory() -> None:
    """--since keeps what came at or after it; records come oldest first."""
    plan = made_plan()
    records = [shortfall_record(plan, t) for t in (30.0, 10.0, 20.0)]
    assert [r["time"] for r in select(records, since=20.0)] == [20.0, 30.0]
    assert select(records, directory="elsewhere") == []


def test_status_document_and_every_family_of_the_catalogue() -> None:
    """The status has what `status` shows; its metrics cover the catalogue, base units."""
    plan = made_plan()
    seen = rhythm.observe(rhythm.Rhythm(), plan, START + 5)
    samples = [growth.Sample(float(t), 0, 0, 10**9 - 10**6 * t) for t in range(10)]
    observed = Observed(rhythm=seen, prediction=growth.predict(samples), last_cycle=START)
    document = directory_status(plan, observed, START + 5)
    json.dumps(document, allow_nan=False)
    assert document["checkpoints"]["complete"]["count"] == 2
    assert document["prediction"]["at"] == START + 5 + document["prediction"]["seconds"]
    counters = Counters(
        deletions={("models", "beyond_keep"): 2},
        freed={"models": 2},
        saves={"models": 4},
        errors={("models", "history_write"): 1},
    )
    made = families([document], counters, version="1", dry_run=False)
    assert [f.name for f in made] == list(CATALOGUE)
    for family in made:
        assert all(len(labels) == len(family.labels) for labels, _ in family.samples)


def test_no_prediction_no_failure_time_metric() -> None:
    """The predicted failure time is absent, not zero, when nothing is predicted."""
    plan = made_plan()
    document = directory_status(plan, Observed(rhythm=rhythm.Rhythm()), START)
    names = {f.name for f in families([document], Counters(), version="1", dry_run=True)}
    assert "ckptguard_target_failure_timestamp_seconds" not in names
    assert "ckptguard_deletions_total" in names


def referenced_metrics(text: str) -> set[str]:
    return set(re.findall(r"\bckptguard_[a-z_]+\b", text))


def test_alerts_and_dashboard_name_only_exported_metrics() -> None:
    """contrib's alert rules and Grafana dashboard use metric names ckptguard exports."""
    dashboard = json.loads((CONTRIB / "grafana" / "ckptguard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs, "the dashboard has no queries"
    alerts = (CONTRIB / "prometheus" / "alerts.yml").read_text()
    used = referenced_metrics("\n".join(exprs)) | referenced_metrics(alerts)
    assert used, "no ckptguard metric is used"
    assert used <= set(CATALOGUE), used - set(CATALOGUE)
