"""A small real Keras 3 training job (PyTorch backend, CPU), run by the e2e tests as a subprocess.

`train --dir D` fits a dense classifier on synthetic data made here (nothing is downloaded)
and saves `D/checkpoint_step_{step}.keras` every `--save-every` batches through a Keras
callback calling `model.save`, exactly as a user's training script would. A failed save is
not caught: the job dies with Keras' own traceback (`OSError: [Errno 28] ...` on a full disk).
On success it prints one JSON line: the saves made, the last step, and the final model's
predictions on a fixed probe batch.

`check --checkpoint PATH` loads a checkpoint with `keras.models.load_model` in a fresh
process and prints one JSON line: its predictions on the same probe batch and its accuracy on
the training data.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

# Keras reads its backend from the environment when first imported.
os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

FEATURES = 64
CLASSES = 10
# Two hidden layers of 384 units: about 177,000 parameters, so a checkpoint (float32 weights
# plus Adam's two moment slots) is about 2.1 MB.
HIDDEN = 384
SEED = 1234


def dataset(samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic, learnable data: the label is the index of the largest of the first 10 inputs."""
    x = np.random.default_rng(SEED).normal(size=(samples, FEATURES)).astype("float32")
    y = x[:, :CLASSES].argmax(axis=1).astype("int64")
    return x, y


def probe() -> np.ndarray:
    """A fixed batch on which the trained and the reloaded model must agree."""
    return np.random.default_rng(SEED + 1).normal(size=(8, FEATURES)).astype("float32")


def build_model() -> keras.Model:
    keras.utils.set_random_seed(SEED)
    model = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(HIDDEN, activation="relu"),
            keras.layers.Dense(HIDDEN, activation="relu"),
            keras.layers.Dense(CLASSES),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


class SaveEvery(keras.callbacks.Callback):
    """Save the whole model (with optimizer state) every `every` training batches."""

    def __init__(self, directory: Path, every: int) -> None:
        super().__init__()
        self.directory = directory
        self.every = every
        self.step = 0
        self.saves = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.step += 1
        if self.step % self.every == 0:
            self.model.save(self.directory / f"checkpoint_step_{self.step}.keras")
            self.saves += 1


def train(args: argparse.Namespace) -> dict:
    x, y = dataset(args.batches_per_epoch * args.batch_size)
    model = build_model()
    saver = SaveEvery(Path(args.dir), args.save_every)
    history = model.fit(
        x,
        y,
        batch_size=args.batch_size,
        epochs=args.epochs,
        shuffle=True,
        verbose=0,
        callbacks=[saver],
    )
    return {
        "saves": saver.saves,
        "last_step": saver.step,
        "final_accuracy": float(history.history["accuracy"][-1]),
        "predictions": model.predict(probe(), verbose=0).tolist(),
    }


def check(args: argparse.Namespace) -> dict:
    model = keras.models.load_model(args.checkpoint)
    x, y = dataset(args.samples)
    accuracy = float((model.predict(x, verbose=0).argmax(axis=1) == y).mean())
    return {"predictions": model.predict(probe(), verbose=0).tolist(), "accuracy": accuracy}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("train", help="train and save checkpoints into --dir")
    run.add_argument("--dir", required=True)
    run.add_argument("--epochs", type=int, default=3)
    run.add_argument("--batches-per-epoch", type=int, default=40)
    run.add_argument("--batch-size", type=int, default=32)
    run.add_argument("--save-every", type=int, default=10, help="batches between saves")
    load = commands.add_parser("check", help="load a checkpoint and predict")
    load.add_argument("--checkpoint", required=True)
    load.add_argument("--samples", type=int, default=40 * 32)
    args = parser.parse_args(argv)

    if keras.backend.backend() != "torch":
        parser.error(f"needs KERAS_BACKEND=torch, not {keras.backend.backend()!r}")
    import torch

    # Tiny matrices gain nothing from a second thread, and OpenMP threads spinning on a
    # shared 2-core CI machine (beside the guard) slow every batch down by an order of size.
    torch.set_num_threads(1)

    result = train(args) if args.command == "train" else check(args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
