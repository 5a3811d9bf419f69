"""Reading metrics files: what counts as a row yet."""

from __future__ import annotations

import pytest

from ckptguard.core.metrics import complete_lines, parse


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("", ""),
        ("epoch,loss,val_", ""),
        ("epoch,val_loss\r\n0,0.2", "epoch,val_loss\r\n"),
        ("epoch,val_loss\r\n0,0.2345\r", "epoch,val_loss\r\n"),
        ("epoch,val_loss\r\n0,0.2345\r\n", "epoch,val_loss\r\n0,0.2345\r\n"),
        ('{"step": 1}\n{"step": 2, "val_loss": 0.', '{"step": 1}\n'),
    ],
)
def test_complete_lines(text: str, kept: str) -> None:
    """Only lines ended by a newline are read: the last may still be being written."""
    assert complete_lines(text) == kept


def test_parse_skips_a_half_written_row_but_reads_whole_json() -> None:
    """CSV and JSON lines lose an unfinished last line; a whole trainer_state.json needs none."""
    assert parse("epoch,val_loss\r\n0,0.5\r\n1,0.2").by_epoch == {0: {"val_loss": 0.5}}
    state = '{"log_history": [{"step": 5, "eval_loss": 0.3}]}'
    assert parse(state).by_step == {5: {"eval_loss": 0.3}}
