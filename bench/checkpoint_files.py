"""Checkpoint files as a training job writes them: names from one template, `.keras` zips.

The benchmarks, the chaos soak and the test suites all make their checkpoints here. Only
the standard library is imported: the soak never imports the `ckptguard` package.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Mapping

TEMPLATE = "checkpoint_step_{step}.keras"


def name_of(step: int | str) -> str:
    """The checkpoint name for `step`; a string keeps its digits as written (`007`)."""
    return TEMPLATE.replace("{step}", str(step))


def zip_bytes(members: Mapping[str, bytes | str]) -> bytes:
    """A zip of `members` (name -> content), stored uncompressed, central directory last."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def keras_archive(weights: bytes, *, model: bool = True) -> bytes:
    """A `.keras`-style zip holding `weights`, under Keras' member names.

    Without `model` it lacks Keras' metadata and config: a zip, but not a saved model.
    """
    members: dict[str, bytes | str] = {}
    if model:
        members["metadata.json"] = '{"keras_version": "3.0.0"}'
        members["config.json"] = '{"class_name": "Sequential"}'
    members["model.weights.h5"] = weights
    return zip_bytes(members)


def keras_bytes(payload_size: int = 4096, *, random_payload: bool = False) -> bytes:
    """A minimal `.keras`-style archive with `payload_size` bytes of weights (zeros unless
    `random_payload`, which makes every archive's bytes differ)."""
    return keras_archive(os.urandom(payload_size) if random_payload else bytes(payload_size))
