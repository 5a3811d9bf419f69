"""Content checks: is an open file a complete checkpoint in its format?

Each check reads as little as it can from a handle the caller opened without following
links, and answers VALID, INVALID or (for a format it cannot judge) UNCHECKED. Any
malformed input means INVALID (or None for metrics), never an exception: anyone who may
write to the guarded directory can write these files.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from collections.abc import Mapping
from typing import IO, Any

from ckptguard.core.layouts import Content
from ckptguard.core.metrics import finite_json_number
from ckptguard.core.model import Integrity

# Members every Keras 3 `.keras` archive holds; a zip without them is not a model.
KERAS_MEMBERS = frozenset({"metadata.json", "config.json"})
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# The magic number that ends every TensorFlow table (`.index`) file, after its footer.
TF_TABLE_MAGIC = struct.pack("<Q", 0xDB4775248B80FB57)
TF_FOOTER_SIZE = 48
# Larger marker files are not parsed whole: parsing is slow and memory-hungry, and the
# daemon must keep answering systemd's watchdog (a very long run's trainer_state.json
# can still be this big; its head is read instead).
MAX_STATE_BYTES = 16 * 2**20
_GLOBAL_STEP = re.compile(rb'"global_step"\s*:\s*([0-9]{1,20})\s*[,}]')


def check_file(handle: IO[bytes], size: int, content: Content) -> Integrity:
    """The verdict of `content`'s check on a regular file of `size` bytes."""
    try:
        if content is Content.KERAS_ZIP:
            return _zip_verdict(handle, lambda names: names >= KERAS_MEMBERS)
        if content is Content.TORCH:
            return check_torch(handle)
        if content is Content.HDF5:
            return check_hdf5(handle, size)
    except Exception:  # noqa: BLE001 - hostile input must mean "not valid", never a crash
        return Integrity.INVALID
    return Integrity.UNCHECKED


def _zip_verdict(handle: IO[bytes], accept: Any) -> Integrity:
    """A Keras or torch save writes the zip's central directory last: partial saves fail."""
    try:
        with zipfile.ZipFile(handle) as archive:
            names = set(archive.namelist())
    except Exception:  # noqa: BLE001 - any malformed input just means "not valid"
        return Integrity.INVALID
    return Integrity.VALID if accept(names) else Integrity.INVALID


def check_torch(handle: IO[bytes]) -> Integrity:
    """`torch.save` writes a zip holding `<name>/data.pkl`; before PyTorch 1.6, a pickle.

    The old format has no end marker to check, so it is judged by the settle window.
    """
    head = handle.read(2)
    handle.seek(0)
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return Integrity.UNCHECKED
    return _zip_verdict(handle, lambda names: any(_is_data_pkl(n) for n in names))


def _is_data_pkl(member: str) -> bool:
    return member == "data.pkl" or member.endswith("/data.pkl")


def check_hdf5(handle: IO[bytes], size: int) -> Integrity:
    """The HDF5 signature and a superblock whose end-of-file address is the file's size.

    HDF5 writes that address when the file is closed; while it is being written, or
    when it was cut short, the address and the size differ. (libhdf5 writes it as an
    absolute offset, user block included.)
    """
    for offset in _signature_offsets(size):
        handle.seek(offset)
        block = handle.read(96)
        if block[:8] == HDF5_SIGNATURE:
            return _superblock_verdict(block, size)
    return Integrity.INVALID


def _signature_offsets(size: int) -> list[int]:
    """The superblock is at 0 or after a user block of 512, 1024, 2048... bytes."""
    offsets, offset = [0], 512
    while offset < min(size, 2**20):
        offsets.append(offset)
        offset *= 2
    return offsets


def _superblock_verdict(block: bytes, size: int) -> Integrity:
    if len(block) < 16:
        return Integrity.INVALID
    version = block[8]
    if version in (0, 1):
        width, start = block[13], 24 + (4 if version == 1 else 0)
    elif version in (2, 3):
        width, start = block[9], 12
    else:
        return Integrity.INVALID
    if width not in (2, 4, 8):
        return Integrity.INVALID
    if len(block) < start + 3 * width:
        return Integrity.INVALID
    fmt = {2: "<H", 4: "<I", 8: "<Q"}[width]
    end_of_file = struct.unpack_from(fmt, block, start + 2 * width)[0]
    if end_of_file == 2 ** (8 * width) - 1:  # "undefined": never closed
        return Integrity.INVALID
    return Integrity.VALID if end_of_file == size else Integrity.INVALID


def check_tf_index(handle: IO[bytes], size: int) -> Integrity:
    """A TensorFlow `.index` is a table whose last 8 bytes are its magic number."""
    if size < TF_FOOTER_SIZE:
        return Integrity.INVALID
    handle.seek(size - len(TF_TABLE_MAGIC))
    return Integrity.VALID if handle.read(8) == TF_TABLE_MAGIC else Integrity.INVALID


def tf_shards_complete(shards: list[tuple[int, int]]) -> bool:
    """Every shard `data-i-of-n` for i in 0..n-1 is there, all with the same n."""
    counts = {n for _, n in shards}
    if len(counts) != 1:
        return False
    (total,) = counts
    return sorted(i for i, _ in shards) == list(range(total))


def trainer_state_metrics(data: bytes, step: int) -> tuple[tuple[str, float], ...] | None:
    """Metrics logged at `step` in a Hugging Face `trainer_state.json` of that step.

    None when it is no finished state of this checkpoint: unreadable, not JSON, or its
    `global_step` is another step. `log_history` holds every logged row up to the
    checkpoint; the rows of its own step (training loss, then evaluation) are merged,
    later rows winning.
    """
    try:
        state = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(state, Mapping) or state.get("global_step") != step:
        return None
    history = state.get("log_history", [])
    if not isinstance(history, list):
        return None
    values: dict[str, float] = {}
    for row in history:
        if isinstance(row, Mapping) and row.get("step") == step:
            for key, value in row.items():
                number = finite_json_number(value)
                if key != "step" and number is not None:
                    values[str(key)] = number
    return tuple(sorted(values.items()))


def global_step_in_head(head: bytes) -> int | None:
    """The `global_step` a trainer_state.json's first bytes state, if they state one."""
    found = _GLOBAL_STEP.search(head)
    return int(found.group(1)) if found else None
