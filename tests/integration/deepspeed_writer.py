"""Saves a tiny model with DeepSpeed on the CPU: `python deepspeed_writer.py DIR STEPS`.

Run by tests/integration/test_presets_rules.py in a process of its own (DeepSpeed sets
up torch.distributed, which lasts for the process). Each step is one optimizer step and
one `save_checkpoint(DIR)`, which names the checkpoint `global_step<N>` and writes the
`latest` tag file last.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("RANK", "0")
    os.environ.setdefault("WORLD_SIZE", "1")
    os.environ.setdefault("LOCAL_RANK", "0")
    import deepspeed
    import torch

    directory, steps = sys.argv[1], int(sys.argv[2])
    model = torch.nn.Linear(64, 64)
    config = {
        "train_batch_size": 1,
        "optimizer": {"type": "Adam", "params": {"lr": 1e-3, "torch_adam": True}},
    }
    deepspeed.init_distributed(dist_backend="gloo")
    engine, *_ = deepspeed.initialize(
        model=model, model_parameters=model.parameters(), config=config
    )
    for _ in range(steps):
        loss = engine(torch.randn(1, 64)).sum()
        engine.backward(loss)
        engine.step()
        engine.save_checkpoint(directory)


if __name__ == "__main__":
    main()
