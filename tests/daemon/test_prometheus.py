"""The real Prometheus and node_exporter (Debian's packages), run here on 127.0.0.1:
node_exporter reads ckptguard's textfile, Prometheus scrapes it and ckptguard's own
endpoint, and its HTTP API reports the deletions of a simulated training run; promtool
checks the exposition and the shipped alert rules."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from support import ServerProcess, free_port, http_get, sample_value, train, wait_for

CONTRIB = Path(__file__).resolve().parents[2] / "contrib"
ALERTS = CONTRIB / "prometheus" / "alerts.yml"
PROMETHEUS = shutil.which("prometheus")
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
PROMTOOL = shutil.which("promtool")

needs_prometheus = pytest.mark.skipif(
    None in (PROMETHEUS, NODE_EXPORTER, PROMTOOL),
    reason="Debian's prometheus and prometheus-node-exporter packages are not installed "
    "(.ci/run installs them with apt-get)",
)


def query(port: int, expression: str) -> dict[str, float]:
    """An instant query of Prometheus' HTTP API: each series' job and value."""
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
    answer = json.loads(http_get(url))
    assert answer["status"] == "success", answer
    return {r["metric"].get("job", ""): float(r["value"][1]) for r in answer["data"]["result"]}


def prometheus_config(path: Path, node: int, guard: int) -> Path:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": [
            {"job_name": "node", "static_configs": [{"targets": [f"127.0.0.1:{node}"]}]},
            {"job_name": "ckptguard", "static_configs": [{"targets": [f"127.0.0.1:{guard}"]}]},
        ],
    }
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


@needs_prometheus
def test_prometheus_sees_the_deletions_through_node_exporter_and_the_endpoint(
    guard_running, models: Path, tmp_path: Path
) -> None:
    """Six saves, keep 2: Prometheus counts four deletions from both sources, and loads
    the alert rules healthy."""
    assert PROMETHEUS and NODE_EXPORTER
    textfiles = tmp_path / "textfile"
    textfiles.mkdir()
    node, guard_port, prometheus = free_port(), free_port(), free_port()
    exporter = ServerProcess(
        [
            NODE_EXPORTER,
            f"--web.listen-address=127.0.0.1:{node}",
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={textfiles}",
        ],
        log_path=tmp_path / "node_exporter.log",
        ready_url=f"http://127.0.0.1:{node}/metrics",
    )
    server = ServerProcess(
        [
            PROMETHEUS,
            f"--config.file={prometheus_config(tmp_path / 'prometheus.yml', node, guard_port)}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{prometheus}",
            "--log.level=warn",
        ],
        log_path=tmp_path / "prometheus.log",
        ready_url=f"http://127.0.0.1:{prometheus}/-/ready",
    )
    args = (
        "--dir",
        str(models),
        "--keep",
        "2",
        "--metrics-textfile",
        str(textfiles / "ckptguard.prom"),
        "--metrics-listen",
        f"127.0.0.1:{guard_port}",
    )
    with exporter, guard_running(*args), server:
        train(models, 6)

        def counted() -> dict[str, float] | None:
            found = query(prometheus, "sum by (job) (ckptguard_deletions_total)")
            return found if found == {"node": 4.0, "ckptguard": 4.0} else None

        wait_for(counted, timeout=60, message="Prometheus to count four deletions from each")
        newest = query(prometheus, "ckptguard_newest_checkpoint_step")
        assert newest == {"node": 600.0, "ckptguard": 600.0}
        node_metrics = http_get(f"http://127.0.0.1:{node}/metrics")
        assert sample_value(node_metrics, "node_textfile_scrape_error") == 0
        wait_for(lambda: rules_healthy(prometheus), timeout=30, message="the alert rules")
        exposition = http_get(f"http://127.0.0.1:{guard_port}/metrics")
    checked = subprocess.run(
        [PROMTOOL, "check", "metrics"],
        input=exposition,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def rules_healthy(port: int) -> list[Any] | None:
    """The alert rules Prometheus loaded, once each has been evaluated without error."""
    answer = json.loads(http_get(f"http://127.0.0.1:{port}/api/v1/rules"))
    rules = [r for g in answer["data"]["groups"] for r in g["rules"]]
    names = {r["name"] for r in rules}
    expected = {
        "CkptguardDiskFillsWithinAnHour",
        "CkptguardNoNewCheckpoint",
        "CkptguardNotCycling",
        "CkptguardShortfall",
    }
    if names != expected or any(r.get("health") != "ok" for r in rules):
        return None
    return rules


@needs_prometheus
def test_promtool_accepts_the_alert_rules() -> None:
    """`promtool check rules contrib/prometheus/alerts.yml` passes."""
    assert PROMTOOL
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(ALERTS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 4 rules found" in checked.stdout
