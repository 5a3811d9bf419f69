"""The time-to-full prediction: headroom from a plan, rates from samples, and a simulated
trainer of known rate whose disk fills when the prediction said it would (within 10 %)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from ckptguard.core import growth, planner
from ckptguard.core.decisions import Action
from ckptguard.core.model import (
    Checkpoint,
    DiskState,
    FileIdentity,
    Integrity,
    Inventory,
    Kind,
    MinFree,
    MinFreeUnit,
    Policy,
)

MB = 10**6
TEN_PERCENT = MinFree(MinFreeUnit.PERCENT, 10)
START = 1_700_000_000.0


def checkpoint(step: int, size: int, at: float) -> Checkpoint:
    return Checkpoint(
        name=f"checkpoint_step_{step}.keras",
        step=step,
        kind=Kind.REGULAR,
        identity=FileIdentity(1, 1000 + step, size, round(at * 1e9)),
        integrity=Integrity.VALID,
        freeable=size,
    )


@dataclass
class SimulatedTrainer:
    """A filesystem of `total` bytes, a trainer saving `size` bytes every `every` seconds,
    and other writers adding `others` bytes per second; the guard's plan applied at once."""

    total: int
    size: int
    every: float
    others: float
    policy: Policy
    used_by_others: float = 1000 * MB
    checkpoints: dict[int, Checkpoint] = field(default_factory=dict)
    step: int = 0

    def free(self) -> int:
        taken = sum(c.size for c in self.checkpoints.values())
        return max(0, int(self.total - self.used_by_others - taken))

    def advance(self, seconds: float, now: float) -> None:
        self.used_by_others += self.others * seconds
        if now >= START + self.step * self.every / 100 + self.every:
            self.step += 100
            self.checkpoints[self.step] = checkpoint(self.step, self.size, now)

    def plan(self, now: float) -> planner.Plan:
        inventory = Inventory(
            "models",
            tuple(sorted(self.checkpoints.values(), key=lambda c: c.step)),
            DiskState(total=self.total, free=self.free()),
        )
        made = planner.plan(inventory, self.policy, now=now)
        for decision in made.decisions:
            if decision.action is Action.DELETE:
                del self.checkpoints[decision.checkpoint.step]
        return made


def run_until_full(trainer: SimulatedTrainer, predict_at: float, tick: float = 0.5):
    """Run the trainer and the guard; the prediction made `predict_at` seconds in, and the
    time the free-space target actually failed, from then."""
    samples: tuple[growth.Sample, ...] = ()
    prediction, now = None, START
    while True:
        now += tick
        trainer.advance(tick, now)
        made = trainer.plan(now)
        if made.shortfall > 0:
            assert prediction is not None, "the disk filled before the prediction was made"
            return prediction, now - (START + predict_at)
        samples = growth.added(samples, growth.sample(made, now - START))
        if prediction is None and now - START >= predict_at:
            prediction = growth.predict(samples)


def policy(**options: object) -> Policy:
    return Policy(**{"settle_seconds": 0.0, **options})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("trainer", "predict_at"),
    [
        pytest.param(
            SimulatedTrainer(10_000 * MB, 100 * MB, 2.0, 20 * MB, policy(keep=3)),
            60.0,
            id="others-fill-the-disk",
        ),
        pytest.param(
            SimulatedTrainer(8_000 * MB, 100 * MB, 5.0, 0.0, policy(keep=100, min_keep=100)),
            60.0,
            id="checkpoints-pile-up-below-the-floor",
        ),
        pytest.param(
            SimulatedTrainer(
                20_000 * MB, 250 * MB, 30.0, 5 * MB, policy(keep=3, min_free=TEN_PERCENT)
            ),
            300.0,
            id="slow-saves-and-a-percent-target",
        ),
    ],
)
def test_prediction_of_a_simulated_trainer_is_within_ten_percent(
    trainer: SimulatedTrainer, predict_at: float
) -> None:
    """Predicted seconds until the target fails match the simulated truth within 10 %."""
    prediction, actual = run_until_full(trainer, predict_at)
    assert prediction is not None and prediction.seconds is not None
    assert actual > 30, "the simulation must leave time to predict"
    assert abs(prediction.seconds - actual) <= 0.10 * actual, (prediction, actual)


def test_a_disk_that_does_not_fill_is_not_predicted_to() -> None:
    """Once the run has its first checkpoints, saves and their deletions leave the
    headroom where it was: no time to full."""
    trainer = SimulatedTrainer(10_000 * MB, 100 * MB, 2.0, 0.0, policy(keep=3))
    samples: tuple[growth.Sample, ...] = ()
    for tick in range(1, 200):
        now = START + tick * 0.5
        trainer.advance(0.5, now)
        made = trainer.plan(now)
        if tick > 10:  # the first save takes its room (and sets the 1x target) for good
            samples = growth.added(samples, growth.sample(made, now - START))
    prediction = growth.predict(samples)
    assert prediction is not None
    assert prediction.seconds is None
    assert abs(prediction.rate) < growth.MIN_RATE
    assert growth.time_to_full(prediction, 3600) is None


def test_headroom_counts_what_pressure_may_take_above_the_floor() -> None:
    """Free space plus the kept checkpoints pressure could delete (not the newest, not
    below min-keep), less the target."""
    trainer = SimulatedTrainer(10_000 * MB, 100 * MB, 1.0, 0.0, policy(keep=3, min_keep=2))
    for tick in range(1, 5):
        trainer.advance(1.0, START + tick)
    made = trainer.plan(START + 5)
    assert len(made.kept) == 3
    # One of three may go (min-keep 2); the target is one checkpoint (1x).
    assert growth.headroom(made) == made.free_after + 100 * MB - 100 * MB


def test_headroom_below_zero_is_the_shortfall() -> None:
    """When the floor stops the free-space rule, the headroom is minus the shortfall."""
    trainer = SimulatedTrainer(1_500 * MB, 100 * MB, 1.0, 0.0, policy(keep=3))
    trainer.used_by_others = 1_350 * MB
    trainer.advance(1.0, START + 1)
    made = trainer.plan(START + 1)
    assert made.shortfall > 0
    assert growth.headroom(made) == -made.shortfall


def test_too_few_or_too_close_samples_predict_nothing() -> None:
    """A rate needs several samples over a few seconds."""
    close = [growth.Sample(i * 0.1, 100, 0, 100 - i) for i in range(10)]
    assert growth.predict(close) is None
    few = [growth.Sample(i * 10.0, 100, 0, 100 - i) for i in range(growth.MIN_SAMPLES - 1)]
    assert growth.predict(few) is None


def test_old_samples_leave_the_window() -> None:
    """Only the last WINDOW seconds, and at most MAX_SAMPLES, shape the rate."""
    samples: tuple[growth.Sample, ...] = ()
    for i in range(3 * growth.MAX_SAMPLES):
        samples = growth.added(samples, growth.Sample(float(i), 0, 0, 0))
    assert len(samples) == growth.MAX_SAMPLES
    samples = growth.added(samples, growth.Sample(samples[-1].at + growth.WINDOW + 1, 0, 0, 0))
    assert len(samples) == 1


def test_time_to_full_warns_only_within_warn_before() -> None:
    """The warning carries its facts and comes only below --warn-before."""
    samples = [growth.Sample(float(t), 0, 0, 20_000 - 10 * t) for t in range(0, 1000, 10)]
    prediction = growth.predict(samples)
    assert prediction is not None and prediction.seconds == pytest.approx(1010.0)
    assert growth.time_to_full(prediction, 1000) is None
    warning = growth.time_to_full(prediction, 3600)
    assert warning is not None and warning.code == "time_to_full"
    assert warning["seconds"] == pytest.approx(1010.0)
    assert warning["rate"] == pytest.approx(10.0)


def test_a_burst_does_not_warn_until_its_rate_is_seen_long_enough() -> None:
    """A rate seen for less than a sixth of --warn-before (at most 10 minutes) warns not."""
    samples = [growth.Sample(float(t), 0, 0, 20_000 - 100 * t) for t in range(0, 100, 10)]
    prediction = growth.predict(samples)
    assert prediction is not None and prediction.seconds is not None
    assert prediction.seconds < 3600
    assert growth.time_to_full(prediction, 3600) is None, "90 s of looks: a burst"
    assert growth.time_to_full(prediction, 540) is not None, "90 s is a sixth of 9 minutes"
