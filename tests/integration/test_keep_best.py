"""Keep the best checkpoints by a metric: from name fields and from metrics files trainers write."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import (
    CsvLoggerFile,
    keep_best_args,
    keras_bytes,
    run_cli,
    six_epochs,
    steps_in,
    tree_snapshot,
    write_checkpoint,
)

from ckptguard.core.metrics import MetricsTable
from ckptguard.face.cli import main
from ckptguard.store.local.metrics import MetricsError, MetricsSource, load

LOSSES = {100: 0.50, 200: 0.02, 300: 0.30, 400: 0.10, 500: 0.20}


def write_plain(directory: Path) -> None:
    for step in LOSSES:
        (directory / f"checkpoint_step_{step}.keras").write_bytes(keras_bytes())


def test_best_from_name_fields_survive_prune(tmp_path: Path) -> None:
    """`--pattern` fields as ModelCheckpoint writes them rank checkpoints; the best 2 stay."""
    for step, loss in LOSSES.items():
        (tmp_path / f"ckpt_{step}_val_loss_{loss:.4f}.keras").write_bytes(keras_bytes())
    pattern = "ckpt_{step}_val_loss_{val_loss:.4f}.keras"
    code = main(
        [
            "prune",
            "--dir",
            str(tmp_path),
            "--pattern",
            pattern,
            "--keep",
            "1",
            "--keep-best",
            "2",
            "--metric",
            "val_loss",
            "--execute",
        ]
    )
    assert code == 0
    assert steps_in(tmp_path, pattern) == [200, 400, 500]


def test_audit_json_shows_metric_rank_and_mode(tmp_path: Path) -> None:
    """audit --json reports each checkpoint's metrics and rank, and which mode was chosen."""
    for step, loss in LOSSES.items():
        (tmp_path / f"ckpt_{step}_acc_{1 - loss:.2f}.keras").write_bytes(keras_bytes())
    result = run_cli(
        "audit",
        "--dir",
        str(tmp_path),
        "--pattern",
        "ckpt_{step}_acc_{acc}.keras",
        "--keep",
        "1",
        "--keep-best",
        "1",
        "--metric",
        "acc",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    (summary,) = document["summary"]["directories"]
    assert summary["metric"] == "acc" and summary["metric_mode"] == "max"
    ranks = {e["step"]: e["rank"] for e in document["entries"]}
    assert ranks == {200: 1, 400: 2, 500: 3, 300: 4, 100: 5}
    kept = {e["step"] for e in document["entries"] if e["action"] == "keep"}
    assert kept == {200, 500}
    assert all(e["path"] for e in document["entries"])
    assert all(e["metric_sources"] == {"acc": "name"} for e in document["entries"])


@pytest.mark.parametrize(
    ("filename", "content", "metric"),
    [
        pytest.param(
            "training_log.csv",
            "step,loss,val_loss\n" + "".join(f"{s},0.9,{v}\n" for s, v in LOSSES.items()),
            "val_loss",
            id="csv-by-step",
        ),
        pytest.param(
            "trainer_state.json",
            json.dumps(
                {
                    "best_metric": 0.02,
                    "log_history": [{"step": s, "loss": 0.9} for s in LOSSES]
                    + [{"step": s, "eval_loss": v, "epoch": 1.0} for s, v in LOSSES.items()],
                }
            ),
            "eval_loss",
            id="hf-trainer-state",
        ),
        pytest.param(
            "metrics.jsonl",
            "".join(json.dumps({"step": s, "val_loss": v}) + "\n" for s, v in LOSSES.items()),
            "val_loss",
            id="json-lines",
        ),
    ],
)
def test_best_from_metrics_file(tmp_path: Path, filename: str, content: str, metric: str) -> None:
    """A CSV, a trainer_state.json or JSON lines in DIR ranks checkpoints joined by step."""
    write_plain(tmp_path)
    (tmp_path / filename).write_text(content)
    code = main(
        [
            "prune",
            "--dir",
            str(tmp_path),
            "--keep",
            "1",
            "--keep-best",
            "2",
            "--metric",
            metric,
            "--metrics-file",
            filename,
            "--execute",
        ]
    )
    assert code == 0
    assert steps_in(tmp_path) == [200, 400, 500]


def test_audit_json_says_where_metrics_came_from(tmp_path: Path) -> None:
    """A value from the metrics file is marked `file`; one from the name, `name`."""
    for step, loss in LOSSES.items():
        (tmp_path / f"ckpt_{step}_val_loss_{loss}.keras").write_bytes(keras_bytes())
    (tmp_path / "m.csv").write_text("step,loss,val_loss\n200,0.9,0.7\n")
    result = run_cli(
        "audit",
        "--dir",
        str(tmp_path),
        "--pattern",
        "ckpt_{step}_val_loss_{val_loss}.keras",
        "--metric",
        "val_loss",
        "--metrics-file",
        "m.csv",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    entries = {e["step"]: e for e in json.loads(result.stdout)["entries"]}
    assert entries[200]["metrics"] == {"loss": 0.9, "val_loss": 0.02}
    assert entries[200]["metric_sources"] == {"loss": "file", "val_loss": "name"}
    assert entries[100]["metric_sources"] == {"val_loss": "name"}


def test_csvlogger_epochs_join_checkpoints_named_by_epoch(tmp_path: Path) -> None:
    """CSVLogger's 0-based epoch rows belong to ModelCheckpoint's 1-based epoch names."""
    losses = [
        0.9,
        0.1,
        0.5,
        0.7,
    ]  # epochs 0..3 -> checkpoints 1..4; best is epoch 1 -> ckpt 2
    for epoch in range(1, 5):
        (tmp_path / f"model_{epoch:02d}.keras").write_bytes(keras_bytes())
    (tmp_path / "log.csv").write_text(
        "epoch,loss,val_loss\n" + "".join(f"{e},1.0,{v}\n" for e, v in enumerate(losses))
    )
    code = main(
        [
            "prune",
            "--dir",
            str(tmp_path),
            "--pattern",
            "model_{step}.keras",
            "--keep",
            "1",
            "--keep-best",
            "1",
            "--metric",
            "val_loss",
            "--metrics-file",
            "log.csv",
            "--execute",
        ]
    )
    assert code == 0
    assert sorted(p.name for p in tmp_path.glob("*.keras")) == [
        "model_02.keras",
        "model_04.keras",
    ]


def test_unknown_metric_is_never_best(tmp_path: Path) -> None:
    """A checkpoint missing from the metrics file is not kept as best."""
    write_plain(tmp_path)
    (tmp_path / "m.csv").write_text("step,val_loss\n300,0.01\n")
    main(
        [
            "prune",
            "--dir",
            str(tmp_path),
            "--keep",
            "1",
            "--keep-best",
            "3",
            "--metric",
            "val_loss",
            "--metrics-file",
            "m.csv",
            "--execute",
        ]
    )
    assert steps_in(tmp_path) == [300, 500]


def test_metrics_source_keeps_last_good_table(tmp_path: Path) -> None:
    """A metrics file that turns unreadable keeps its last good values; never-read ones fail."""
    path = tmp_path / "m.jsonl"
    path.write_text('{"step": 1, "val_loss": 0.5}\n')
    source = MetricsSource(str(path))
    assert source.table().by_step == {1: {"val_loss": 0.5}}
    path.write_text("{not json\n")
    assert source.table().by_step == {1: {"val_loss": 0.5}}
    with pytest.raises(MetricsError):
        MetricsSource(str(tmp_path / "missing.csv")).table()
    with pytest.raises(MetricsError):
        load(str(path))


@pytest.mark.parametrize(
    "content",
    [
        pytest.param('step,val_loss\n1,"' + "x" * 200_000 + '"\n', id="csv-field-too-large"),
        pytest.param('{"log_history": null}', id="log-history-null"),
        pytest.param('{"log_history": 5}', id="log-history-number"),
        pytest.param("[" * 100_000 + "]" * 100_000 + "\n", id="deeply-nested"),
        pytest.param('{"step": 2,\n{"step": 1, "val_loss": 0.1}\n', id="truncated-json-lines"),
    ],
)
def test_malformed_metrics_files_raise_metrics_error(tmp_path: Path, content: str) -> None:
    """Whatever is in the metrics file, reading it fails only with MetricsError."""
    path = tmp_path / "m"
    path.write_text(content)
    with pytest.raises(MetricsError):
        load(str(path))


def keep_best(directory: Path, command: str, *extra: str) -> list[str]:
    return [command, *keep_best_args(directory, *extra)]


@pytest.fixture
def trained(models: Path) -> Iterator[CsvLoggerFile]:
    """checkpoint_step_{1..6}.keras and their CSVLogger log; `prune --execute` has run once."""
    logger = six_epochs(models)
    assert main(keep_best(models, "prune", "--execute")) == 0
    assert steps_in(models) == [2, 5, 6]
    yield logger
    logger.close()


def test_prune_remembers_values_across_a_truncated_log(
    models: Path, trained: CsvLoggerFile
) -> None:
    """prune --execute after the log was truncated keeps the best it read the time before."""
    trained.start()
    write_checkpoint(models, 7)
    assert main(keep_best(models, "prune", "--execute")) == 0
    assert steps_in(models) == [2, 6, 7]


def test_rewritten_log_does_not_take_protection_from_the_old_best(
    models: Path, trained: CsvLoggerFile, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new run's rows for epochs 0..4 land on old checkpoints' names; the first values stand."""
    # Epoch 4's row (0.1) would make checkpoint 5 the best and checkpoint 2 (0.96) an also-ran.
    trained.run([0.95, 0.96, 0.97, 0.98, 0.1])
    write_checkpoint(models, 7)
    capsys.readouterr()
    assert main([*keep_best(models, "prune", "--execute"), "--json"]) == 0
    assert steps_in(models) == [2, 6, 7]
    document = json.loads(capsys.readouterr().out)
    entries = {e["step"]: e for e in document["entries"]}
    assert entries[2]["metrics"]["val_loss"] == 0.2
    assert entries[2]["metric_sources"]["val_loss"] == "remembered"
    changed, lost = sorted(document["summary"]["directories"][0]["warnings"])
    assert "other val_loss values" in lost and "checkpoint_step_2.keras" in lost
    assert "no longer has" in changed and "checkpoint_step_6.keras" in changed


def test_audit_shows_sources_and_lost_rows_and_writes_nothing(
    tmp_path: Path, models: Path, trained: CsvLoggerFile, state_directory: Path
) -> None:
    """audit --json says where each value came from and that rows were lost; state untouched."""
    trained.start()
    trained.epoch_end(6, {"loss": 0.9, "val_loss": 0.85})
    write_checkpoint(models, 7)
    before = tree_snapshot(state_directory)
    assert len(before) == 3  # the directory, the metric memory, the content verdicts
    result = run_cli(*keep_best(models, "audit", "--json"))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    sources = {e["step"]: e.get("metric_sources") for e in document["entries"]}
    assert sources == {
        2: {"val_loss": "remembered"},
        5: {"val_loss": "remembered"},
        6: {"val_loss": "remembered"},
        7: {"loss": "file", "val_loss": "file"},
    }
    kept = {e["step"] for e in document["entries"] if e["action"] == "keep"}
    assert kept == {2, 6, 7}
    (warning,) = document["summary"]["directories"][0]["warnings"]
    assert str(models / "training.log") in warning
    assert "using the values read before" in warning
    table = run_cli(*keep_best(models, "audit"))
    assert "0.2 (#1, remembered)" in table.stdout
    assert "WARNING: metrics file" in table.stdout
    assert tree_snapshot(state_directory) == before


@pytest.mark.parametrize("trouble", ["missing", "not-a-directory", "garbage"])
def test_audit_works_without_a_readable_state_dir(
    tmp_path: Path, models: Path, trouble: str
) -> None:
    """A state directory that is missing, or cannot be read, costs remembered values only."""
    for step in range(1, 4):
        write_checkpoint(models, step)
    CsvLoggerFile(models / "training.log").run([0.5, 0.1, 0.3]).close()
    state = tmp_path / "state"
    if trouble == "not-a-directory":
        state.write_text("")
    elif trouble == "garbage":
        state.mkdir()
        real = str(models.resolve())
        from ckptguard.service.state import state_path

        Path(state_path(str(state), real)).write_text("{not json")
    before = tree_snapshot(tmp_path)
    result = run_cli(*keep_best(models, "audit", "--json", "--state-dir", str(state)))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert {e["step"] for e in document["entries"] if e["action"] == "keep"} == {2, 3}
    warnings = document["summary"]["directories"][0]["warnings"]
    assert len(warnings) == (0 if trouble == "missing" else 1), warnings
    assert tree_snapshot(tmp_path) == before


def test_prune_with_an_unwritable_state_dir_still_deletes(
    tmp_path: Path, models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """prune --execute deletes even when its state cannot be written, and says so once."""
    for step in range(1, 5):
        write_checkpoint(models, step)
    CsvLoggerFile(models / "training.log").run([0.5, 0.1, 0.3, 0.4]).close()
    blocker = tmp_path / "blocker"
    blocker.write_text("")  # the state directory would be under a regular file
    args = keep_best(models, "prune", "--execute", "--state-dir", str(blocker / "state"))
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert steps_in(models) == [2, 3, 4]
    failures = [line for line in result.stderr.splitlines() if "state_write_failed" in line]
    assert len(failures) == 1, result.stderr


@pytest.mark.parametrize(
    ("written", "rest"),
    [
        pytest.param("epoch,loss,val_loss\r\n0,1.0,0.5\r\n1,0.9,0.2", "345\r\n", id="csv"),
        pytest.param("epoch,loss,val_loss\r\n0,1.0,0.5\r\n1,0.9,0.2345\r", "\n", id="csv-cr"),
        pytest.param(
            '{"epoch": 0, "val_loss": 0.5}\n{"epoch": 1, "val_loss": 0.2',
            "345}\n",
            id="jsonl",
        ),
    ],
)
def test_half_written_last_line_is_not_read(tmp_path: Path, written: str, rest: str) -> None:
    """A last line without its newline may be half-written ("0.2" of "0.2345"): not read yet."""
    path = tmp_path / "log"
    path.write_bytes(written.encode())
    assert {e: r["val_loss"] for e, r in load(str(path)).by_epoch.items()} == {0: 0.5}
    with path.open("ab") as handle:
        handle.write(rest.encode())
    assert {e: r["val_loss"] for e, r in load(str(path)).by_epoch.items()} == {
        0: 0.5,
        1: 0.2345,
    }


def test_half_written_header_is_an_empty_table(tmp_path: Path) -> None:
    """A CSVLogger log caught while its header is written holds no rows yet, and no error."""
    path = tmp_path / "log"
    path.write_text("epoch,loss,val_")
    assert load(str(path)) == MetricsTable()
