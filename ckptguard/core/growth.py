"""How fast the room for checkpoints shrinks, and when the free-space target will fail.

The shell samples each guarded directory (after every cycle and every free-space
check); this module turns those samples into a prediction. Nothing here reads a clock:
`at` is whatever monotonic seconds the caller passes.

*Headroom* is what may still be written on the filesystem before the free-space target
can no longer be met at `--min-keep`: the free space (saves in flight credited, as the
planner credits them), plus what pressure could still delete above the floor, less the
target. A save and the deletion it causes move bytes between those terms and leave the
headroom where it was; what shrinks it is everything else written on the filesystem,
checkpoints growing, and checkpoints piling up below the floor. Its rate of change,
fitted by least squares over the recent samples, gives the time left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ckptguard.core.decisions import Action, Notice, Plan, State, notice

# Samples older than this (seconds) no longer shape the rate: a rate is "current".
WINDOW = 30 * 60.0
# At most this many samples are kept (one per 2.5 s over the window).
MAX_SAMPLES = 720
# A rate needs this many samples spread over at least this many seconds.
MIN_SAMPLES = 4
MIN_SPAN = 2.0
# Shrinking slower than this (bytes per second, about 3.6 kB an hour) is not shrinking.
MIN_RATE = 1.0
# A warning needs the rate seen for this share of `warn_before`, at most MAX_SEEN
# seconds: a burst (the first saves of a run filling the floor) must not page anyone.
SEEN_SHARE = 1 / 6
MAX_SEEN = 600.0


@dataclass(frozen=True)
class Sample:
    """One look at a directory's filesystem, at `at` monotonic seconds."""

    at: float
    free: int  # free bytes for the writer, as the plan saw them
    checkpoints: int  # bytes the directory's checkpoints take
    headroom: int  # see the module's docstring


@dataclass(frozen=True)
class Prediction:
    """When the free-space target fails, at the rates of the last `span` seconds."""

    headroom: int
    # Bytes per second the headroom shrinks (negative: it grows).
    rate: float
    # Bytes per second used on the whole filesystem, and by the checkpoints.
    filesystem_rate: float
    checkpoint_rate: float
    span: float
    samples: int
    # Seconds until the target fails; None: not at the current rate.
    seconds: float | None


def reserve(plan: Plan) -> int:
    """Bytes pressure could still free from what the plan keeps, above the floor."""
    complete = sum(1 for d in plan.kept if d.state is State.COMPLETE)
    may_take = max(0, complete - plan.min_keep)
    giving = sorted(
        (d for d in plan.decisions if d.action is Action.KEEP and d.gives_way is not None),
        key=lambda d: d.gives_way or 0,
    )
    return sum(d.checkpoint.reclaimable for d in giving[:may_take])


def headroom(plan: Plan) -> int:
    """Bytes that may still be written before the target fails at `--min-keep`; below
    zero, the shortfall."""
    return plan.free_after + plan.in_flight_credit + reserve(plan) - plan.target_free


def sample(plan: Plan, at: float, *, free: int | None = None) -> Sample:
    """A sample from a plan; `free` read since (a free-space check) replaces its free space."""
    gained = 0 if free is None else free - plan.free_after
    taken = sum(d.checkpoint.size for d in plan.kept)
    return Sample(at, plan.free_after + gained, taken, headroom(plan) + gained)


def added(samples: Sequence[Sample], new: Sample) -> tuple[Sample, ...]:
    """`samples` with `new`, less those that fell out of the window or over the count."""
    kept = [s for s in samples if new.at - s.at <= WINDOW and s.at <= new.at]
    return (*kept[-(MAX_SAMPLES - 1) :], new)


def slope(points: Sequence[tuple[float, float]]) -> float:
    """The least-squares slope of y over x (0 when x does not vary)."""
    count = len(points)
    mean_x = sum(x for x, _ in points) / count
    mean_y = sum(y for _, y in points) / count
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def predict(samples: Sequence[Sample]) -> Prediction | None:
    """The prediction the samples support; None while they are too few or too close."""
    if len(samples) < MIN_SAMPLES:
        return None
    span = samples[-1].at - samples[0].at
    if span < MIN_SPAN:
        return None
    rate = -slope([(s.at, s.headroom) for s in samples])
    last = samples[-1].headroom
    if last <= 0:
        seconds: float | None = 0.0
    elif rate >= MIN_RATE:
        seconds = last / rate
    else:
        seconds = None
    return Prediction(
        headroom=last,
        rate=rate,
        filesystem_rate=-slope([(s.at, s.free) for s in samples]),
        checkpoint_rate=slope([(s.at, s.checkpoints) for s in samples]),
        span=span,
        samples=len(samples),
        seconds=seconds,
    )


def time_to_full(prediction: Prediction | None, warn_before: float) -> Notice | None:
    """The `time_to_full` warning, when the target fails within `warn_before` seconds at
    a rate seen long enough (see SEEN_SHARE)."""
    if prediction is None or prediction.seconds is None or prediction.seconds >= warn_before:
        return None
    if prediction.span < min(MAX_SEEN, warn_before * SEEN_SHARE):
        return None
    return notice(
        "time_to_full",
        seconds=round(prediction.seconds, 1),
        headroom=prediction.headroom,
        rate=round(prediction.rate, 1),
        warn_before=warn_before,
    )
