"""Tiny real training runs that save checkpoints the way each framework does.

    python train_frameworks.py hf OUT          # Hugging Face Trainer: OUT/checkpoint-N/
    python train_frameworks.py lightning OUT   # Lightning: OUT/epoch=E-step=N.ckpt, last.ckpt

Prints one JSON line: what was saved and the metrics logged at each save.
"""

from __future__ import annotations

import json
import sys

import torch

STEPS, EVERY = 40, 5


def train_hf(out: str) -> dict[str, object]:
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        Trainer,
        TrainingArguments,
    )

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=16,
    )
    data = [
        {"input_ids": torch.randint(0, 50, (8,)), "labels": torch.tensor(i % 2)} for i in range(64)
    ]
    args = TrainingArguments(
        output_dir=out,
        max_steps=STEPS,
        save_strategy="steps",
        save_steps=EVERY,
        eval_strategy="steps",
        eval_steps=EVERY,
        logging_steps=EVERY,
        per_device_train_batch_size=4,
        learning_rate=5e-3,
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = Trainer(
        model=BertForSequenceClassification(config),
        args=args,
        train_dataset=data,
        # The same inputs with the other label: as training fits, evaluation gets worse, so
        # the best checkpoint by eval_loss is an early one, not among the newest.
        eval_dataset=[{**row, "labels": 1 - row["labels"]} for row in data[:16]],
    )
    trainer.train()
    history = trainer.state.log_history
    eval_loss = {row["step"]: row["eval_loss"] for row in history if "eval_loss" in row}
    return {"saves": list(range(EVERY, STEPS + 1, EVERY)), "eval_loss": eval_loss}


def train_lightning(out: str) -> dict[str, object]:
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    class Tiny(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(8, 1)

        def training_step(self, batch: torch.Tensor, _: int) -> torch.Tensor:
            return self.layer(batch).pow(2).mean()

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=0.01)

    torch.manual_seed(0)
    saver = ModelCheckpoint(dirpath=out, every_n_train_steps=EVERY, save_top_k=-1, save_last="link")
    trainer = L.Trainer(
        max_steps=STEPS,
        callbacks=[saver],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    loader = torch.utils.data.DataLoader(torch.randn(STEPS * 4, 8), batch_size=4)
    trainer.fit(Tiny(), loader)
    return {"saves": list(range(EVERY, STEPS + 1, EVERY))}


def main() -> None:
    framework, out = sys.argv[1], sys.argv[2]
    summary = train_hf(out) if framework == "hf" else train_lightning(out)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
