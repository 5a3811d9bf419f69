"""Every preset's checkpoints as objects in a bucket, written as each framework writes them
(the last object a save writes is its completeness marker)."""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import zipfile
from typing import Any

from support import keras_bytes

TF_MAGIC = struct.pack("<Q", 0xDB4775248B80FB57)


def torch_bytes() -> bytes:
    """A zip as `torch.save` writes it: `<name>/data.pkl` among its members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": 1}))
        archive.writestr("archive/data/0", os.urandom(512))
    return buffer.getvalue()


def hf_objects(step: int, *, complete: bool = True, eval_loss: float = 1.0) -> dict[str, bytes]:
    name = f"checkpoint-{step}"
    objects = {
        f"{name}/model.safetensors": os.urandom(3000),
        f"{name}/optimizer.pt": os.urandom(2000),
    }
    if complete:
        history = [{"step": step, "loss": 2.0}, {"step": step, "eval_loss": eval_loss}]
        state = {"global_step": step, "log_history": history}
        objects[f"{name}/trainer_state.json"] = json.dumps(state).encode()
    return objects


def tf_objects(step: int, *, complete: bool = True) -> dict[str, bytes]:
    objects = {f"ckpt-{step}.data-00000-of-00001": os.urandom(2000)}
    if complete:
        objects[f"ckpt-{step}.index"] = os.urandom(100) + TF_MAGIC
    return objects


def orbax_objects(step: int, *, complete: bool = True) -> dict[str, bytes]:
    objects = {f"{step}/state/array.zarr": os.urandom(2000), f"{step}/_METADATA": b"{}"}
    if complete:
        objects[f"{step}/commit_success.txt"] = b"Checkpoint commit was successful."
    return objects


def dcp_objects(step: int, *, complete: bool = True) -> dict[str, bytes]:
    objects = {f"step-{step}/__0_0.distcp": os.urandom(2000)}
    if complete:
        objects[f"step-{step}/.metadata"] = pickle.dumps({"state_dict_metadata": {}})
    return objects


def file_objects(template: str, data: bytes, step: int, *, complete: bool = True):
    return {template.format(step=step): data if complete else data[: len(data) // 2]}


# preset -> step -> objects (complete, or cut short before its marker)
MAKERS: dict[str, Any] = {
    "keras": lambda step, complete=True: file_objects(
        "checkpoint_step_{step}.keras", keras_bytes(), step, complete=complete
    ),
    "torch": lambda step, complete=True: file_objects(
        "checkpoint_{step}.pt", torch_bytes(), step, complete=complete
    ),
    "lightning": lambda step, complete=True: file_objects(
        "epoch=0-step={step}.ckpt", torch_bytes(), step, complete=complete
    ),
    "hf": hf_objects,
    "tf": tf_objects,
    "orbax": orbax_objects,
    "dcp": dcp_objects,
}
# The entry name each preset gives a step's checkpoint.
NAMES = {
    "keras": "checkpoint_step_{}.keras",
    "torch": "checkpoint_{}.pt",
    "lightning": "epoch=0-step={}.ckpt",
    "hf": "checkpoint-{}",
    "tf": "ckpt-{}",
    "orbax": "{}",
    "dcp": "step-{}",
}


def upload(fs: Any, root: str, objects: dict[str, bytes]) -> None:
    """Upload in the order given: a save's marker last."""
    for name, data in objects.items():
        fs.pipe(f"{root}/{name}", data)
