"""Every preset's checkpoints as objects in a bucket, written as each framework writes them
(the last object a save writes is its completeness marker), and uploading them in order.
"""

from __future__ import annotations

import json
import os
import pickle
from typing import Any

from bench.checkpoint_files import keras_bytes, zip_bytes
from support.files import TF_MAGIC


def torch_bytes() -> bytes:
    """A zip as `torch.save` writes it: `<name>/data.pkl` among its members."""
    return zip_bytes(
        {"archive/data.pkl": pickle.dumps({"w": 1}), "archive/data/0": os.urandom(512)}
    )


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


def deepspeed_objects(step: int, *, complete: bool = True) -> dict[str, bytes]:
    """`global_step<N>/`: optimizer states, then rank 0's model states; the `latest` tag
    file is written last, once the save is complete."""
    name = f"global_step{step}"
    objects = {f"{name}/zero_pp_rank_0_mp_rank_00_optim_states.pt": torch_bytes()}
    if complete:
        objects[f"{name}/mp_rank_00_model_states.pt"] = torch_bytes()
        objects["latest"] = name.encode()
    return objects


def megatron_objects(step: int, *, complete: bool = True) -> dict[str, bytes]:
    """`iter_<7 digits>/` as torch_dist writes it: common.pt, DCP's shards and .metadata,
    then metadata.json (rank 0's finalize), then the tracker file naming the iteration."""
    name = f"iter_{step:07d}"
    objects = {
        f"{name}/common.pt": torch_bytes(),
        f"{name}/__0_0.distcp": os.urandom(2000),
        f"{name}/.metadata": pickle.dumps({"state_dict_metadata": {}}),
    }
    if complete:
        objects[f"{name}/metadata.json"] = json.dumps({"sharded_backend": "torch_dist"}).encode()
        objects["latest_checkpointed_iteration.txt"] = str(step).encode()
    return objects


def file_objects(template: str, data: bytes, step: int, *, complete: bool = True):
    return {template.format(step=step): data if complete else data[: len(data) // 2]}


# preset -> step -> objects (complete, or cut short before its marker)
PRESET_OBJECTS: dict[str, Any] = {
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
    "deepspeed": deepspeed_objects,
    "megatron": megatron_objects,
}
# The entry name each preset gives a step's checkpoint.
PRESET_NAMES = {
    "keras": "checkpoint_step_{}.keras",
    "torch": "checkpoint_{}.pt",
    "lightning": "epoch=0-step={}.ckpt",
    "hf": "checkpoint-{}",
    "tf": "ckpt-{}",
    "orbax": "{}",
    "dcp": "step-{}",
    "deepspeed": "global_step{}",
    "megatron": "iter_{:07d}",
}


def upload(fs: Any, root: str, objects: dict[str, bytes]) -> None:
    """Upload in the order given: a save's marker last."""
    for name, data in objects.items():
        fs.pipe(f"{root}/{name}", data)
