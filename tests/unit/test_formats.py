"""Content checks on bytes: what counts as a complete file in each format, and no crash on junk."""

from __future__ import annotations

import io
import json
import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support import zip_bytes

from ckptguard.core.layouts import Content, layout_for, tf_shard
from ckptguard.core.model import Integrity
from ckptguard.store.local.formats import (
    HDF5_SIGNATURE,
    TF_TABLE_MAGIC,
    check_file,
    check_tf_index,
    global_step_in_head,
    tf_shards_complete,
    trainer_state_metrics,
)

VALID, INVALID, UNCHECKED = Integrity.VALID, Integrity.INVALID, Integrity.UNCHECKED


def verdict(data: bytes, content: Content) -> Integrity:
    return check_file(io.BytesIO(data), len(data), content)


def zip_of(*members: str) -> bytes:
    return zip_bytes(dict.fromkeys(members, b"x"))


def superblock(version: int, *, end_of_file: int, width: int = 8, base: int = 0) -> bytes:
    """An HDF5 superblock of `version` with the given addresses, padded to 96 bytes."""
    fmt = {2: "<H", 4: "<I", 8: "<Q"}[width]
    undefined = 2 ** (8 * width) - 1
    if version in (0, 1):
        head = HDF5_SIGNATURE + bytes([version, 0, 0, 0, 0, width, 8, 0]) + b"\4\0\x10\0"
        head += b"\0\0\0\0" + (b"\x20\0\0\0" if version == 1 else b"")
        addresses = [base, undefined, end_of_file, undefined]
    else:
        head = HDF5_SIGNATURE + bytes([version, width, 8, 0])
        addresses = [base, undefined, end_of_file, 48]
    body = head + b"".join(struct.pack(fmt, a) for a in addresses)
    return body.ljust(96, b"\0")


@pytest.mark.parametrize("version", [0, 1, 2, 3])
@pytest.mark.parametrize("width", [4, 8])
def test_hdf5_complete_when_end_of_file_address_is_the_size(version: int, width: int) -> None:
    """Every superblock version: the recorded end of file must be exactly the file's end."""
    size = 4096
    whole = superblock(version, end_of_file=size, width=width).ljust(size, b"\1")
    assert verdict(whole, Content.HDF5) is VALID
    assert verdict(whole[:-1], Content.HDF5) is INVALID  # cut short
    assert verdict(whole + b"\0" * 512, Content.HDF5) is INVALID  # written past the record


def test_hdf5_never_closed_or_forged() -> None:
    """An undefined end-of-file address (never closed), bad versions and no signature fail."""
    undefined = superblock(0, end_of_file=2**64 - 1).ljust(4096, b"\0")
    assert verdict(undefined, Content.HDF5) is INVALID
    assert verdict(HDF5_SIGNATURE + b"\x09" + b"\0" * 200, Content.HDF5) is INVALID
    assert verdict(b"\0" * 4096, Content.HDF5) is INVALID
    assert verdict(b"", Content.HDF5) is INVALID


def test_hdf5_after_a_user_block() -> None:
    """After a 512-byte user block the end-of-file address still counts from the file's start."""
    body = superblock(0, end_of_file=4096, base=512)
    data = (b"\0" * 512 + body).ljust(4096, b"\1")
    assert verdict(data, Content.HDF5) is VALID


def test_torch_zip_legacy_and_junk() -> None:
    """torch.save zips hold data.pkl; old pickles are unchecked; other zips are not torch."""
    assert verdict(zip_of("archive/data.pkl", "archive/version"), Content.TORCH) is VALID
    assert verdict(zip_of("config.json"), Content.TORCH) is INVALID
    assert verdict(b"\x80\x02\x8a\x0a" + b"\0" * 50, Content.TORCH) is UNCHECKED
    assert verdict(zip_of("archive/data.pkl")[:-10], Content.TORCH) is INVALID


def test_keras_zip_needs_both_members() -> None:
    """A .keras archive must hold config.json and metadata.json."""
    keras = zip_of("config.json", "metadata.json", "model.weights.h5")
    assert verdict(keras, Content.KERAS_ZIP) is VALID
    assert verdict(zip_of("config.json"), Content.KERAS_ZIP) is INVALID


@given(st.binary(max_size=2048), st.sampled_from(list(Content)))
def test_no_input_crashes_a_check(data: bytes, content: Content) -> None:
    """Anyone who can write to DIR can write these files: every input gets a verdict."""
    assert verdict(data, content) in (VALID, INVALID, UNCHECKED)
    assert check_tf_index(io.BytesIO(data), len(data)) in (VALID, INVALID)


@given(st.binary(max_size=4096))
def test_trainer_state_parser_never_crashes(data: bytes) -> None:
    """Any bytes either parse to metrics or to None, never an exception."""
    result = trainer_state_metrics(data, 1)
    assert result is None or all(math.isfinite(v) for _, v in result)


def test_tf_index_magic() -> None:
    """A TensorFlow table ends in its magic number after a 48-byte footer."""
    assert check_tf_index(io.BytesIO(b"\0" * 40 + TF_TABLE_MAGIC), 48) is VALID
    assert check_tf_index(io.BytesIO(b"\0" * 32 + TF_TABLE_MAGIC), 40) is INVALID
    assert check_tf_index(io.BytesIO(b"\0" * 48), 48) is INVALID


@pytest.mark.parametrize(
    ("shards", "complete"),
    [
        ([(0, 1)], True),
        ([(0, 3), (1, 3), (2, 3)], True),
        ([(0, 3), (2, 3)], False),
        ([(0, 2), (1, 3)], False),
        ([], False),
        ([(0, 1), (0, 1)], False),
    ],
)
def test_tf_shards(shards: list[tuple[int, int]], complete: bool) -> None:
    """Every data-i-of-n for i < n, with one n."""
    assert tf_shards_complete(shards) is complete


def test_trainer_state_rows_of_the_step() -> None:
    """Rows at the checkpoint's step merge; other steps, bools, NaN and non-numbers are dropped."""
    state = {
        "global_step": 200,
        "log_history": [
            {"step": 100, "loss": 3.0, "eval_loss": 9.0},
            {"step": 200, "loss": 2.0, "learning_rate": 1e-4, "done": True},
            {"step": 200, "eval_loss": 0.5, "eval_accuracy": float("nan"), "note": "x"},
        ],
    }
    found = trainer_state_metrics(json.dumps(state).encode(), 200)
    assert found == (("eval_loss", 0.5), ("learning_rate", 1e-4), ("loss", 2.0))
    assert trainer_state_metrics(b'{"global_step": 200, "log_history": 3}', 200) is None
    assert trainer_state_metrics(b"[1, 2]", 200) is None
    assert trainer_state_metrics(b'{"global_step": 200', 200) is None  # still being written
    assert trainer_state_metrics(b'{"global_step": 200}', 200) == ()
    assert trainer_state_metrics(json.dumps({**state, "global_step": 100}).encode(), 200) is None
    assert trainer_state_metrics(b"{}", 200) is None  # no step: not this checkpoint's state


def test_trainer_state_numbers_too_big_for_a_float_are_dropped() -> None:
    """An integer beyond float range is no metric, and no crash (it once stopped the guard)."""
    huge = json.dumps({"global_step": 30, "log_history": [{"step": 30, "x": 10**400, "y": 1}]})
    assert trainer_state_metrics(huge.encode(), 30) == (("y", 1.0),)


@pytest.mark.parametrize("length", range(0, 40))
def test_hdf5_files_shorter_than_a_superblock(length: int) -> None:
    """Any prefix of a superblock is invalid, never an exception (it once stopped the guard)."""
    whole = superblock(2, end_of_file=4096).ljust(4096, b"\1")
    assert verdict(whole[:length], Content.HDF5) is INVALID


def test_group_member_names() -> None:
    """tf: `.index` and `.data-i-of-n` files belong to their stem; anything else to nothing."""
    layout = layout_for("tf")
    assert layout.key_of("ckpt-7.index") == "ckpt-7"
    assert layout.key_of("ckpt-7.data-00000-of-00002") == "ckpt-7"
    assert layout.key_of("ckpt-7.data-0-of-2") is None
    assert layout.key_of("ckpt-7") is None
    assert layout.key_of("checkpoint") is None
    assert layout.key_of("ckpt-7.index.tempstate123") is None
    assert tf_shard("ckpt-7.data-00001-of-00002") == (1, 2)
    assert tf_shard("ckpt-7.index") is None


def test_keras_content_follows_the_suffix() -> None:
    """keras: .keras is a zip, .h5 is HDF5, any other suffix has no content check."""
    from ckptguard.core.naming import Template

    def content(pattern: str) -> Content:
        return layout_for("keras", Template.parse(pattern)).content

    assert content("checkpoint_step_{step}.keras") is Content.KERAS_ZIP
    assert content("ckpt_{step}.weights.h5") is Content.HDF5
    assert content("ckpt_{step}.keras.bak") is Content.NONE


@pytest.mark.parametrize(
    ("head", "step"),
    [
        (b'{\n  "best_metric": null,\n  "global_step": 500,\n  "log_history": [', 500),
        (b'{"global_step":7}', 7),
        (b'{"global_step": 5000000000000000000000}', None),  # 22 digits: no step
        (b'{"epoch": 1, "global_step": "500",', None),
        (b'{"log_history": [{"global_step_x": 1}', None),
        (b"", None),
    ],
)
def test_global_step_from_the_head_of_a_trainer_state(head: bytes, step: int | None) -> None:
    """A trainer_state.json too big to parse is judged by the global_step in its head."""
    assert global_step_in_head(head) == step
