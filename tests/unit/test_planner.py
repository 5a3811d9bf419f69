"""Table-driven tests of the pure planner: values in, a Plan out, no disk and no clock."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest
from support import text

from ckptguard.core import planner
from ckptguard.core.decisions import Action, Plan, ReasonCode, State
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
    Unit,
)

NOW = 1_700_000_000.0
MB = 10**6
SIZE = 100 * MB
TOTAL = 100_000 * MB
PLENTY = 50_000 * MB
OLD = 3600.0  # seconds: well past any settle window used here
FRESH = 2.0  # seconds: inside the default 10 s settle window

VALID = Integrity.VALID
INVALID = Integrity.INVALID
UNCHECKED = Integrity.UNCHECKED


def ckpt(
    step: int,
    *,
    size: int = SIZE,
    age: float = OLD,
    integrity: Integrity = VALID,
    kind: Kind = Kind.REGULAR,
    pinned: bool = False,
    freeable: int | None = None,
    open_by: tuple[int, ...] = (),
    name: str | None = None,
    metrics: tuple[tuple[str, float], ...] = (),
    unit: Unit = Unit.FILE,
    protected_by: str | None = None,
) -> Checkpoint:
    """A checkpoint for `step`, last modified `age` seconds before NOW."""
    return Checkpoint(
        name=name if name is not None else f"checkpoint_step_{step}.keras",
        step=step,
        kind=kind,
        identity=FileIdentity(
            device=1,
            inode=1000 + step,
            size=size,
            mtime_ns=round((NOW - age) * 1_000_000_000),
        ),
        integrity=integrity,
        pinned=pinned,
        freeable=size if freeable is None else freeable,
        open_by=open_by,
        metrics=metrics,
        unit=unit,
        protected_by=protected_by,
    )


def inventory(*checkpoints: Checkpoint, free: int = PLENTY, total: int = TOTAL) -> Inventory:
    return Inventory("models", tuple(checkpoints), DiskState(total=total, free=free))


def min_bytes(amount: int) -> MinFree:
    return MinFree(MinFreeUnit.BYTES, float(amount))


def valid_run(*steps: int, **kwargs: object) -> list[Checkpoint]:
    return [ckpt(s, **kwargs) for s in steps]  # type: ignore[arg-type]


def steps_deleted(plan: Plan) -> set[int]:
    return {d.checkpoint.step for d in plan.deletions}


def decision_for(plan: Plan, step: int):
    (found,) = [d for d in plan.decisions if d.checkpoint.step == step]
    return found


def codes(plan: Plan, step: int) -> set[ReasonCode]:
    return {r.code for r in decision_for(plan, step).reasons}


@dataclass(frozen=True)
class Case:
    """One planner scenario: inputs, the steps it must delete, and reasons it must give."""

    checkpoints: tuple[Checkpoint, ...]
    policy: Policy
    deleted: frozenset[int]
    free: int = PLENTY
    total: int = TOTAL
    # step -> reason codes that must be among that decision's reasons
    reasons: dict[int, set[ReasonCode]] = field(default_factory=dict)
    # step -> state the planner must derive
    states: dict[int, State] = field(default_factory=dict)
    shortfall: bool = False


def case(
    checkpoints: list[Checkpoint],
    policy: Policy,
    deleted: set[int],
    **kwargs: object,
) -> Case:
    return Case(tuple(checkpoints), policy, frozenset(deleted), **kwargs)  # type: ignore[arg-type]


CASES = [
    # ---- keep-N orders by step, never by mtime -------------------------------------------
    pytest.param(
        case(
            [ckpt(s, age=OLD - s) for s in (100, 200, 300, 400, 500)],
            Policy(keep=3),
            {100, 200},
            reasons={
                100: {ReasonCode.BEYOND_KEEP},
                200: {ReasonCode.BEYOND_KEEP},
                300: {ReasonCode.NEWEST_N},
                500: {ReasonCode.NEWEST_VALID, ReasonCode.NEWEST_N},
            },
        ),
        id="keep-n-deletes-oldest-steps",
    ),
    pytest.param(
        case(
            [
                ckpt(100, age=20.0),  # newest mtime, oldest step
                ckpt(200, age=OLD),
                ckpt(300, age=2 * OLD),
                ckpt(400, age=3 * OLD),  # oldest mtime, newest step
            ],
            Policy(keep=2),
            set(),
            reasons={
                400: {ReasonCode.NEWEST_VALID, ReasonCode.EARLIER_RUN},
                300: {ReasonCode.EARLIER_RUN, ReasonCode.NEWEST_N},
                100: {ReasonCode.NEWEST_VALID, ReasonCode.NEWEST_N},
            },
        ),
        id="each-step-back-in-write-order-starts-a-run",
    ),
    # ---- runs: a training restarted or resumed in the same directory ---------------------
    pytest.param(
        case(
            [
                *[ckpt(s, age=2 * OLD - (s - 25000)) for s in (25000, 25100, 25200, 25300)],
                ckpt(100, age=60.0),
            ],
            Policy(keep=3),
            {25000},
            reasons={
                25000: {ReasonCode.BEYOND_KEEP, ReasonCode.EARLIER_RUN},
                25300: {ReasonCode.NEWEST_VALID, ReasonCode.NEWEST_N, ReasonCode.EARLIER_RUN},
                100: {ReasonCode.NEWEST_VALID, ReasonCode.NEWEST_N},
            },
        ),
        id="restart-from-scratch-keeps-the-new-runs-first-save",
    ),
    pytest.param(
        case(
            [
                *[ckpt(s, age=2 * OLD - (s - 25000)) for s in (25100, 25200, 25300)],
                ckpt(100, age=120.0),
                ckpt(200, age=60.0),
            ],
            Policy(keep=3, min_free=min_bytes(3 * SIZE)),
            {25100, 25200},
            free=SIZE,
            reasons={
                25100: {ReasonCode.FREE_SPACE, ReasonCode.EARLIER_RUN},
                25300: {ReasonCode.NEWEST_VALID},
                100: {ReasonCode.NEWEST_N},
            },
        ),
        id="under-pressure-earlier-runs-go-first",
    ),
    pytest.param(
        case(
            [
                *[ckpt(s, age=2 * OLD - (s - 25000)) for s in (25100, 25200, 25300)],
                *[ckpt(s, age=OLD - s) for s in (100, 200, 300)],
            ],
            Policy(keep=3, min_keep=2, min_free=min_bytes(TOTAL)),
            {25100, 25200, 100},
            free=0,
            reasons={200: {ReasonCode.MIN_KEEP}, 300: {ReasonCode.NEWEST_VALID}},
            shortfall=True,
        ),
        id="under-pressure-the-current-run-keeps-min-keep",
    ),
    # ---- a content check that fails everything is more likely wrong than the saves -------
    pytest.param(
        case(
            [ckpt(s, integrity=INVALID) for s in (100, 200, 300)],
            Policy(keep=1, min_keep=2, min_free=min_bytes(TOTAL)),
            {100},
            free=0,
            reasons={
                100: {ReasonCode.CORRUPT_RECLAIM},
                200: {ReasonCode.CHECK_SUSPECT},
                300: {ReasonCode.CHECK_SUSPECT},
            },
            shortfall=True,
        ),
        id="nothing-passes-the-check-newest-min-keep-stay",
    ),
    pytest.param(
        case(
            [
                *[ckpt(s, age=2 * OLD - s) for s in (100, 200, 300)],
                *[ckpt(s, integrity=INVALID, age=OLD - s) for s in (400, 500, 600)],
            ],
            Policy(keep=3, min_free=min_bytes(TOTAL)),
            {400, 500, 600, 100, 200},
            free=0,
            reasons={600: {ReasonCode.CORRUPT_RECLAIM}, 300: {ReasonCode.NEWEST_VALID}},
            shortfall=True,
        ),
        id="newest-three-written-fail-the-check-only-a-warning",
    ),
    pytest.param(
        case(
            [ckpt(s, age=OLD - s) for s in (100, 200, 300, 400)],
            Policy(keep=2),
            {100, 200},
        ),
        id="keep-n-mtime-and-step-agree",
    ),
    pytest.param(
        case(valid_run(100, 200, 300), Policy(keep=5), set()),
        id="keep-n-larger-than-count-deletes-nothing",
    ),
    pytest.param(
        case(
            valid_run(100, 200, 300),
            Policy(keep=0),
            {100, 200},
            reasons={300: {ReasonCode.NEWEST_VALID}},
        ),
        id="keep-0-still-keeps-newest-valid",
    ),
    # ---- pins ----------------------------------------------------------------------------
    pytest.param(
        case(
            [
                ckpt(100, pinned=True),
                ckpt(200),
                ckpt(300),
                ckpt(400, pinned=True),
                ckpt(500),
            ],
            Policy(keep=2),
            {200},
            reasons={
                100: {ReasonCode.PINNED},
                400: {ReasonCode.PINNED},
                300: {ReasonCode.NEWEST_N},
            },
            states={100: State.PINNED, 400: State.PINNED, 200: State.COMPLETE},
        ),
        id="pinned-kept-and-not-counted-toward-keep",
    ),
    pytest.param(
        case(
            [ckpt(100), ckpt(200), ckpt(300), ckpt(400, pinned=True)],
            Policy(keep=1),
            {100, 200},
            reasons={300: {ReasonCode.NEWEST_VALID}, 400: {ReasonCode.PINNED}},
        ),
        id="pinned-newest-does-not-replace-newest-valid",
    ),
    pytest.param(
        case(
            [ckpt(100, pinned=True, integrity=INVALID), ckpt(200)],
            Policy(keep=1, min_free=min_bytes(TOTAL)),
            set(),
            free=0,
            states={100: State.PINNED},
            shortfall=True,
        ),
        id="pinned-corrupt-kept-even-under-pressure",
    ),
    pytest.param(
        case(
            [ckpt(s, pinned=True) for s in (100, 200, 300)],
            Policy(keep=1, min_free=min_bytes(TOTAL), min_keep=0),
            set(),
            free=0,
            shortfall=True,
        ),
        id="pinned-never-deleted-for-space",
    ),
    # ---- pointer files ("latest") --------------------------------------------------------
    pytest.param(
        case(
            [ckpt(100, protected_by="latest"), *valid_run(200, 300, 400)],
            Policy(keep=2),
            {200},
            reasons={100: {ReasonCode.POINTER}, 400: {ReasonCode.NEWEST_VALID}},
            states={100: State.COMPLETE},
        ),
        id="pointer-target-kept-beyond-keep-n",
    ),
    pytest.param(
        case(
            [ckpt(100, protected_by="checkpoint"), *valid_run(200, 300)],
            Policy(keep=3, min_free=min_bytes(TOTAL), min_keep=1),
            {200},
            free=0,
            reasons={100: {ReasonCode.POINTER}, 200: {ReasonCode.FREE_SPACE}},
            shortfall=True,
        ),
        id="pointer-target-never-deleted-for-space",
    ),
    pytest.param(
        case(
            [ckpt(100, protected_by="latest", integrity=INVALID), ckpt(200)],
            Policy(keep=1, min_free=min_bytes(TOTAL)),
            set(),
            free=0,
            states={100: State.CORRUPT},
            reasons={100: {ReasonCode.POINTER, ReasonCode.CORRUPT_LEFT}},
            shortfall=True,
        ),
        id="pointer-target-corrupt-never-reclaimed",
    ),
    # ---- directory checkpoints -----------------------------------------------------------
    pytest.param(
        case(
            [
                *valid_run(100, 200, kind=Kind.DIRECTORY, unit=Unit.DIRECTORY),
                ckpt(300, kind=Kind.SYMLINK, unit=Unit.DIRECTORY),
                ckpt(400, kind=Kind.REGULAR, unit=Unit.DIRECTORY),
            ],
            Policy(keep=1),
            {100},
            states={200: State.COMPLETE, 300: State.IGNORED, 400: State.IGNORED},
            reasons={200: {ReasonCode.NEWEST_VALID}, 400: {ReasonCode.IGNORED}},
        ),
        id="directory-checkpoints-only-count-directories",
    ),
    pytest.param(
        case(
            [
                ckpt(100, kind=Kind.DIRECTORY, unit=Unit.DIRECTORY),
                ckpt(150, kind=Kind.DIRECTORY, unit=Unit.DIRECTORY, integrity=INVALID),
                ckpt(200, kind=Kind.DIRECTORY, unit=Unit.DIRECTORY),
                ckpt(300, kind=Kind.DIRECTORY, unit=Unit.DIRECTORY, integrity=INVALID, age=1800),
            ],
            Policy(keep=1, min_free=min_bytes(TOTAL)),
            {100, 150},
            free=0,
            states={150: State.CORRUPT, 300: State.IN_PROGRESS},
            reasons={150: {ReasonCode.CORRUPT_RECLAIM}, 300: {ReasonCode.IN_PROGRESS}},
            shortfall=True,
        ),
        id="quiet-directory-save-newer-than-every-complete-one-is-in-progress",
    ),
    pytest.param(
        case(
            [
                ckpt(100, kind=Kind.DIRECTORY, unit=Unit.DIRECTORY),
                ckpt(200, kind=Kind.DIRECTORY, unit=Unit.DIRECTORY, integrity=INVALID, age=3601),
                ckpt(300, kind=Kind.DIRECTORY, unit=Unit.DIRECTORY, integrity=INVALID, age=3601),
            ],
            Policy(keep=1, min_free=min_bytes(TOTAL)),
            {200, 300},
            free=0,
            states={200: State.CORRUPT, 300: State.CORRUPT},
            shortfall=True,
        ),
        id="directory-saves-quiet-for-an-hour-are-abandoned",
    ),
    pytest.param(
        case(
            [ckpt(100), *[ckpt(s, integrity=INVALID, age=FRESH) for s in (200, 300, 400)]],
            Policy(keep=1, min_free=min_bytes(SIZE * 2)),
            set(),
            free=SIZE,
            shortfall=False,
        ),
        id="saves-in-flight-together-earn-one-checkpoint-of-credit",
    ),
    pytest.param(
        case(
            [ckpt(100), ckpt(200, integrity=INVALID)],
            Policy(keep=1, min_free=min_bytes(TOTAL)),
            {200},
            free=0,
            states={200: State.CORRUPT},
            shortfall=True,
        ),
        id="an-old-truncated-newest-file-is-corrupt",
    ),
    pytest.param(
        case(
            [
                ckpt(100, kind=Kind.DIRECTORY, unit=Unit.DIRECTORY),
                ckpt(200, kind=Kind.DIRECTORY, unit=Unit.DIRECTORY, size=0, freeable=4096),
            ],
            Policy(keep=1),
            set(),
            states={100: State.COMPLETE, 200: State.CORRUPT},
        ),
        id="a-directory-holding-no-bytes-is-never-complete",
    ),
    # ---- in progress ---------------------------------------------------------------------
    pytest.param(
        case(
            [*valid_run(100, 200, 300, 400, 500), ckpt(600, age=FRESH, integrity=INVALID)],
            Policy(keep=3),
            {100, 200},
            reasons={600: {ReasonCode.IN_PROGRESS}, 300: {ReasonCode.NEWEST_N}},
            states={600: State.IN_PROGRESS, 500: State.COMPLETE},
        ),
        id="in-progress-invalid-kept-and-not-counted",
    ),
    pytest.param(
        case(
            [*valid_run(100, 200, 300), ckpt(400, age=FRESH, integrity=UNCHECKED)],
            Policy(keep=2),
            {100},
            states={400: State.IN_PROGRESS},
            reasons={400: {ReasonCode.IN_PROGRESS}, 300: {ReasonCode.NEWEST_VALID}},
        ),
        id="in-progress-unchecked-recently-modified",
    ),
    pytest.param(
        case(
            [*valid_run(100, 200, 300), ckpt(400, age=OLD, integrity=UNCHECKED)],
            Policy(keep=2),
            {100, 200},
            states={400: State.COMPLETE},
            reasons={400: {ReasonCode.NEWEST_VALID}},
        ),
        id="unchecked-past-settle-counts-as-complete",
    ),
    pytest.param(
        case(
            [*valid_run(100, 200), ckpt(300, age=FRESH, integrity=VALID)],
            Policy(keep=2),
            {100},
            states={300: State.COMPLETE},
        ),
        id="valid-within-settle-is-complete",
    ),
    pytest.param(
        case(
            [*valid_run(100, 200), ckpt(300, age=-60.0, integrity=INVALID)],
            Policy(keep=1),
            {100},
            states={300: State.IN_PROGRESS},
        ),
        id="future-mtime-invalid-is-in-progress",
    ),
    pytest.param(
        case(
            [*valid_run(100, 200), ckpt(300, age=30.0, integrity=INVALID)],
            Policy(keep=1, settle_seconds=60.0),
            {100},
            states={300: State.IN_PROGRESS},
        ),
        id="settle-window-from-policy",
    ),
    pytest.param(
        case(
            [*valid_run(100, 200), ckpt(300, age=10.0, integrity=INVALID)],
            Policy(keep=1, settle_seconds=10.0),
            {100},
            states={300: State.CORRUPT},
        ),
        id="settle-window-boundary-is-corrupt",
    ),
    pytest.param(
        case(
            [*valid_run(100, 200, 300), ckpt(400, age=FRESH, integrity=INVALID)],
            Policy(keep=1, min_free=min_bytes(TOTAL), min_keep=0),
            {100, 200},
            free=0,
            states={400: State.IN_PROGRESS},
            shortfall=True,
        ),
        id="in-progress-never-deleted-for-space",
    ),
    # ---- corrupt -------------------------------------------------------------------------
    pytest.param(
        case(
            [*valid_run(100, 200, 300, 400, 500), ckpt(600, integrity=INVALID)],
            Policy(keep=3),
            {100, 200},
            reasons={600: {ReasonCode.CORRUPT_LEFT}, 300: {ReasonCode.NEWEST_N}},
            states={600: State.CORRUPT, 500: State.COMPLETE},
        ),
        id="corrupt-not-counted-and-left-when-space-fine",
    ),
    pytest.param(
        case(
            [*valid_run(100, 200, 300, 400, 500), ckpt(250, integrity=INVALID)],
            Policy(keep=5, min_free=min_bytes(150 * MB)),
            {250},
            free=50 * MB,
            reasons={250: {ReasonCode.CORRUPT_LEFT, ReasonCode.CORRUPT_RECLAIM}},
        ),
        id="corrupt-deleted-first-when-space-short",
    ),
    pytest.param(
        case(
            [*valid_run(100, 200, 300, 400, 500), ckpt(250, integrity=INVALID)],
            Policy(keep=5, min_free=min_bytes(250 * MB)),
            {250, 100},
            free=50 * MB,
            reasons={100: {ReasonCode.FREE_SPACE}, 250: {ReasonCode.CORRUPT_RECLAIM}},
        ),
        id="corrupt-then-oldest-valid-when-space-short",
    ),
    pytest.param(
        case(
            [
                *valid_run(100, 200, 300),
                ckpt(
                    999_999_999, size=0, integrity=INVALID, name="checkpoint_step_999999999.keras"
                ),
            ],
            Policy(keep=3),
            set(),
            states={999_999_999: State.CORRUPT, 300: State.COMPLETE},
            reasons={300: {ReasonCode.NEWEST_VALID}},
        ),
        id="forged-zero-byte-newest-pushes-nothing-out",
    ),
    pytest.param(
        case(
            [
                *valid_run(100, 200, 300),
                ckpt(999_999_999, size=0, age=FRESH, integrity=INVALID),
            ],
            Policy(keep=3),
            set(),
            states={999_999_999: State.IN_PROGRESS},
        ),
        id="forged-zero-byte-just-written-pushes-nothing-out",
    ),
    pytest.param(
        case(
            [*valid_run(100, 200, 300), ckpt(999_999_999, size=0, integrity=INVALID)],
            Policy(keep=3, min_free=MinFree(MinFreeUnit.MULTIPLE, 1.0)),
            {100},
            free=0,
            reasons={999_999_999: {ReasonCode.NOTHING_TO_FREE}, 100: {ReasonCode.FREE_SPACE}},
            states={999_999_999: State.CORRUPT},
        ),
        id="forged-zero-byte-under-pressure-frees-nothing",
    ),
    # ---- ignored entries -----------------------------------------------------------------
    pytest.param(
        case(
            [
                *valid_run(100, 200, 300),
                ckpt(600, kind=Kind.SYMLINK),
                ckpt(700, kind=Kind.DIRECTORY),
                ckpt(800, kind=Kind.OTHER),
            ],
            Policy(keep=1),
            {100, 200},
            reasons={
                600: {ReasonCode.IGNORED},
                700: {ReasonCode.IGNORED},
                800: {ReasonCode.IGNORED},
                300: {ReasonCode.NEWEST_VALID},
            },
            states={600: State.IGNORED, 700: State.IGNORED, 800: State.IGNORED},
        ),
        id="symlink-dir-other-ignored-not-counted",
    ),
    pytest.param(
        case(
            [
                ckpt(50, kind=Kind.SYMLINK),
                ckpt(60, kind=Kind.DIRECTORY, integrity=INVALID),
                ckpt(70, kind=Kind.OTHER, pinned=True),
                *valid_run(100, 200),
            ],
            Policy(keep=1, min_free=min_bytes(TOTAL), min_keep=0),
            {100},
            free=0,
            states={50: State.IGNORED, 60: State.IGNORED, 70: State.IGNORED},
            shortfall=True,
        ),
        id="ignored-never-deleted-for-space",
    ),
    # ---- milestones ----------------------------------------------------------------------
    pytest.param(
        case(
            valid_run(500, 1000, 1500, 2000, 2500, 3000, 3500),
            Policy(keep=2, keep_every=1000),
            {500, 1500, 2500},
            reasons={
                1000: {ReasonCode.MILESTONE},
                2000: {ReasonCode.MILESTONE},
                3000: {ReasonCode.MILESTONE, ReasonCode.NEWEST_N},
                500: {ReasonCode.BEYOND_KEEP},
            },
        ),
        id="milestones-kept-beyond-keep-n",
    ),
    pytest.param(
        case(
            valid_run(1000, 1500, 2000, 2500, 3000),
            Policy(keep=5, keep_every=1000, min_free=min_bytes(200 * MB)),
            {1500, 2500},
            free=0,
            reasons={1500: {ReasonCode.FREE_SPACE}, 2500: {ReasonCode.FREE_SPACE}},
        ),
        id="ordinary-deleted-for-space-before-milestones",
    ),
    pytest.param(
        case(
            valid_run(1000, 1500, 2000, 2500, 3000),
            Policy(keep=5, keep_every=1000, min_free=min_bytes(300 * MB)),
            {1500, 2500, 1000},
            free=0,
            reasons={1000: {ReasonCode.FREE_SPACE}},
        ),
        id="milestones-deleted-oldest-first-after-ordinary",
    ),
    pytest.param(
        case(
            valid_run(1000, 2000),
            Policy(keep=1, keep_every=0),
            {1000},
        ),
        id="keep-every-zero-means-no-milestones",
    ),
    # ---- time rules and size budgets -------------------------------------------------------
    pytest.param(
        case(
            [ckpt(s, age=(6 - s // 100) * 3600.0) for s in (100, 200, 300, 400, 500)],
            Policy(keep=1, keep_within=2.5 * 3600),
            {100, 200},
            reasons={300: {ReasonCode.WITHIN}, 200: {ReasonCode.BEYOND_KEEP}},
        ),
        id="keep-within-counts-back-from-the-newest-completion",
    ),
    pytest.param(
        case(
            [ckpt(s, age=(6 - s // 100) * 86400.0) for s in (100, 200, 300, 400, 500)],
            Policy(keep=1, keep_daily=3),
            {100, 200},
            reasons={300: {ReasonCode.PERIOD}, 400: {ReasonCode.PERIOD}},
        ),
        id="keep-daily-keeps-the-newest-of-each-recent-day",
    ),
    pytest.param(
        case(
            valid_run(100, 200, 300, 400, 500),
            Policy(keep=5, max_size=250 * MB),
            {100, 200, 300},
            reasons={100: {ReasonCode.OVER_BUDGET}, 300: {ReasonCode.OVER_BUDGET}},
        ),
        id="max-size-deletes-oldest-first-until-under",
    ),
    # ---- free space: bytes, percent, multiple --------------------------------------------
    pytest.param(
        case(
            valid_run(100, 200, 300, 400, 500),
            Policy(keep=5, min_free=min_bytes(150 * MB)),
            {100, 200},
            free=0,
            reasons={100: {ReasonCode.FREE_SPACE}, 200: {ReasonCode.FREE_SPACE}},
        ),
        id="min-free-bytes-deletes-oldest-first",
    ),
    pytest.param(
        case(
            valid_run(100, 200, 300, 400, 500),
            Policy(keep=5, min_free=min_bytes(150 * MB)),
            set(),
            free=150 * MB,
        ),
        id="min-free-bytes-already-met",
    ),
    pytest.param(
        case(
            valid_run(100, 200, 300, 400, 500),
            Policy(keep=3, min_free=min_bytes(150 * MB)),
            {100, 200},
            free=0,
            reasons={100: {ReasonCode.BEYOND_KEEP}},
        ),
        id="keep-n-deletions-count-toward-free-space",
    ),
    pytest.param(
        case(
            valid_run(100, 200, 300, 400, 500),
            Policy(keep=5, min_free=MinFree(MinFreeUnit.PERCENT, 10.0)),
            {100},
            free=0,
            total=1000 * MB,
        ),
        id="min-free-percent-of-total",
    ),
    pytest.param(
        case(
            valid_run(100, 200, 300, 400, 500),
            Policy(keep=5, min_free=MinFree(MinFreeUnit.PERCENT, 25.0)),
            {100, 200, 300},
            free=0,
            total=1000 * MB,
        ),
        id="min-free-percent-rounds-up-in-checkpoints",
    ),
    pytest.param(
        case(
            [*valid_run(100, 200, 300, 400), ckpt(500, size=300 * MB)],
            Policy(keep=10, min_free=MinFree(MinFreeUnit.MULTIPLE, 1.0)),
            {100, 200, 300},
            free=50 * MB,
        ),
        id="min-free-multiple-uses-newest-valid-size",
    ),
    pytest.param(
        case(
            [*valid_run(100, 200, 300, 400), ckpt(500, size=300 * MB)],
            Policy(keep=10, min_free=MinFree(MinFreeUnit.MULTIPLE, 2.0)),
            {100, 200, 300, 400},
            free=50 * MB,
            shortfall=True,
            reasons={500: {ReasonCode.NEWEST_VALID}},
        ),
        id="min-free-multiple-2x-cannot-be-met",
    ),
    pytest.param(
        case(
            [*valid_run(100, 200, 300), ckpt(400, size=300 * MB, pinned=True)],
            Policy(keep=10, min_free=MinFree(MinFreeUnit.MULTIPLE, 1.0)),
            {100, 200},
            free=100 * MB,
        ),
        id="min-free-multiple-uses-pinned-newest-size",
    ),
    pytest.param(
        case(
            [ckpt(100), ckpt(200, size=900 * MB, integrity=INVALID)],
            Policy(keep=10, min_free=MinFree(MinFreeUnit.MULTIPLE, 1.0)),
            set(),
            free=100 * MB,
        ),
        id="min-free-multiple-ignores-corrupt-size",
    ),
    # ---- min-keep floor ------------------------------------------------------------------
    pytest.param(
        case(
            valid_run(100, 200, 300, 400, 500),
            Policy(keep=5, min_keep=3, min_free=min_bytes(TOTAL)),
            {100, 200},
            free=0,
            shortfall=True,
            reasons={300: {ReasonCode.MIN_KEEP}, 400: {ReasonCode.MIN_KEEP}},
        ),
        id="min-keep-floor-stops-free-space",
    ),
    pytest.param(
        case(
            valid_run(100, 200, 300),
            Policy(keep=3, min_keep=1, min_free=min_bytes(TOTAL)),
            {100, 200},
            free=0,
            shortfall=True,
            reasons={300: {ReasonCode.NEWEST_VALID}},
        ),
        id="min-keep-1-keeps-only-newest",
    ),
    pytest.param(
        case(
            valid_run(100, 200, 300),
            Policy(keep=3, min_keep=0, min_free=min_bytes(TOTAL)),
            {100, 200},
            free=0,
            shortfall=True,
            reasons={300: {ReasonCode.NEWEST_VALID}},
        ),
        id="min-keep-0-still-keeps-newest",
    ),
    # ---- nothing to free: hard links, open files ------------------------------------------
    pytest.param(
        case(
            [
                ckpt(100, freeable=0),
                ckpt(200, open_by=(4242,)),
                *valid_run(300, 400, 500),
            ],
            Policy(keep=5, min_free=min_bytes(100 * MB)),
            {300},
            free=0,
            reasons={
                100: {ReasonCode.NOTHING_TO_FREE},
                200: {ReasonCode.OPEN_ELSEWHERE},
                300: {ReasonCode.FREE_SPACE},
            },
        ),
        id="hard-linked-and-open-skipped-by-free-space",
    ),
    pytest.param(
        case(
            [ckpt(100, freeable=0, integrity=INVALID), *valid_run(200, 300)],
            Policy(keep=5, min_free=min_bytes(100 * MB)),
            {200},
            free=0,
            reasons={100: {ReasonCode.CORRUPT_LEFT, ReasonCode.NOTHING_TO_FREE}},
        ),
        id="hard-linked-corrupt-skipped-by-free-space",
    ),
    pytest.param(
        case(
            [ckpt(100, open_by=(1,)), ckpt(200, freeable=0), *valid_run(300)],
            Policy(keep=1),
            {100, 200},
            reasons={100: {ReasonCode.BEYOND_KEEP}, 200: {ReasonCode.BEYOND_KEEP}},
        ),
        id="keep-n-still-deletes-open-and-hard-linked",
    ),
    # ---- in-flight credit ------------------------------------------------------------------
    pytest.param(
        case(
            [*valid_run(100, 200, 300), ckpt(400, size=60 * MB, age=FRESH, integrity=INVALID)],
            Policy(keep=5, min_free=MinFree(MinFreeUnit.MULTIPLE, 1.0)),
            set(),
            free=40 * MB,
        ),
        id="in-flight-bytes-count-toward-target",
    ),
    pytest.param(
        case(
            [*valid_run(100, 200, 300), ckpt(400, size=30 * MB, age=FRESH, integrity=INVALID)],
            Policy(keep=5, min_free=MinFree(MinFreeUnit.MULTIPLE, 1.0)),
            {100},
            free=40 * MB,
        ),
        id="in-flight-credit-partial",
    ),
    pytest.param(
        case(
            [*valid_run(100, 200, 300), ckpt(400, size=1000 * MB, age=FRESH, integrity=INVALID)],
            Policy(keep=5, min_free=MinFree(MinFreeUnit.MULTIPLE, 2.0)),
            {100},
            free=0,
        ),
        id="in-flight-credit-capped-at-newest-valid-size",
    ),
    # ---- keep-best by a metric ------------------------------------------------------------
    pytest.param(
        case(
            [
                ckpt(100, metrics=(("val_loss", 0.30),)),
                ckpt(200, metrics=(("val_loss", 0.05),)),
                ckpt(300, metrics=(("val_loss", 0.20),)),
                ckpt(400, metrics=(("val_loss", 0.10),)),
                ckpt(500),
            ],
            Policy(keep=1, keep_best=2, metric="val_loss", metric_mode="min"),
            {100, 300},
            reasons={
                200: {ReasonCode.BEST},
                400: {ReasonCode.BEST},
                100: {ReasonCode.BEYOND_KEEP},
                500: {ReasonCode.NEWEST_N},
            },
        ),
        id="keep-best-lowest-loss-beyond-keep-n",
    ),
    pytest.param(
        case(
            [
                ckpt(100, metrics=(("val_acc", 0.99),)),
                ckpt(200, metrics=(("val_acc", 0.50),)),
                ckpt(300, metrics=(("val_acc", 0.70),)),
                ckpt(400),
            ],
            Policy(keep=1, keep_best=1, metric="val_acc", metric_mode="max"),
            {200, 300},
            reasons={100: {ReasonCode.BEST}},
        ),
        id="keep-best-highest-accuracy",
    ),
    pytest.param(
        case(
            [
                ckpt(100, metrics=(("val_loss", 0.01),)),
                ckpt(200, metrics=(("val_loss", 0.50),)),
                ckpt(300),
                ckpt(400),
            ],
            Policy(keep=3, keep_best=1, metric="val_loss", min_free=min_bytes(2 * SIZE)),
            {200, 300},
            free=0,
            reasons={
                100: {ReasonCode.BEST},
                200: {ReasonCode.FREE_SPACE},
                300: {ReasonCode.FREE_SPACE},
            },
        ),
        id="best-goes-last-under-pressure",
    ),
    pytest.param(
        case(
            [ckpt(100), ckpt(200, metrics=(("val_loss", float("nan")),)), ckpt(300)],
            Policy(keep=1, keep_best=2, metric="val_loss"),
            {100, 200},
        ),
        id="unknown-or-nan-metric-is-never-best",
    ),
]


def run_case(c: Case) -> Plan:
    return planner.plan(inventory(*c.checkpoints, free=c.free, total=c.total), c.policy, now=NOW)


@pytest.mark.parametrize("c", CASES)
def test_planner_table(c: Case) -> None:
    """Each scenario deletes exactly the expected steps, with the expected states and reasons."""
    plan = run_case(c)
    assert steps_deleted(plan) == set(c.deleted)
    assert len(plan.decisions) == len(c.checkpoints)
    for decision in plan.decisions:
        assert decision.reasons, f"{decision.checkpoint.name} has no reason"
        assert all(text(r).strip() for r in decision.reasons)
    for step, expected in c.reasons.items():
        assert expected <= codes(plan, step), f"step {step}: {codes(plan, step)}"
    for step, state in c.states.items():
        assert decision_for(plan, step).state is state
    assert (plan.shortfall > 0) is c.shortfall
    assert bool(plan.warnings) is c.shortfall


def test_every_reason_code_is_exercised_by_the_table() -> None:
    """The table reaches every ReasonCode, so none is dead or untested."""
    seen = {
        r.code
        for param in CASES
        for d in run_case(param.values[0]).decisions  # type: ignore[union-attr]
        for r in d.reasons
    }
    assert seen == set(ReasonCode)


@pytest.mark.parametrize(
    ("kind", "pinned", "integrity", "age", "settle", "expected"),
    [
        pytest.param(Kind.SYMLINK, True, VALID, OLD, 10.0, State.IGNORED, id="symlink-beats-pin"),
        pytest.param(Kind.DIRECTORY, False, VALID, OLD, 10.0, State.IGNORED, id="directory"),
        pytest.param(Kind.OTHER, False, VALID, OLD, 10.0, State.IGNORED, id="other"),
        pytest.param(Kind.REGULAR, True, INVALID, FRESH, 10.0, State.PINNED, id="pin-beats-state"),
        pytest.param(Kind.REGULAR, False, VALID, FRESH, 10.0, State.COMPLETE, id="valid-fresh"),
        pytest.param(Kind.REGULAR, False, VALID, OLD, 10.0, State.COMPLETE, id="valid-old"),
        pytest.param(
            Kind.REGULAR, False, INVALID, FRESH, 10.0, State.IN_PROGRESS, id="invalid-fresh"
        ),
        pytest.param(Kind.REGULAR, False, INVALID, OLD, 10.0, State.CORRUPT, id="invalid-old"),
        pytest.param(
            Kind.REGULAR, False, INVALID, 10.0, 10.0, State.CORRUPT, id="invalid-at-boundary"
        ),
        pytest.param(
            Kind.REGULAR, False, UNCHECKED, FRESH, 10.0, State.IN_PROGRESS, id="unchecked-fresh"
        ),
        pytest.param(Kind.REGULAR, False, UNCHECKED, OLD, 10.0, State.COMPLETE, id="unchecked-old"),
        pytest.param(
            Kind.REGULAR, False, UNCHECKED, -5.0, 10.0, State.IN_PROGRESS, id="unchecked-future"
        ),
        pytest.param(Kind.REGULAR, False, INVALID, FRESH, 0.0, State.CORRUPT, id="no-settle"),
    ],
)
def test_classify(
    kind: Kind, pinned: bool, integrity: Integrity, age: float, settle: float, expected: State
) -> None:
    """classify: kind first, then pin, then integrity against the settle window."""
    checkpoint = ckpt(7, kind=kind, pinned=pinned, integrity=integrity, age=age)
    assert planner.classify(checkpoint, Policy(settle_seconds=settle), NOW) is expected


@pytest.mark.parametrize(
    ("min_free", "total", "reference", "expected"),
    [
        pytest.param(min_bytes(123), 10_000, 50, 123, id="bytes"),
        pytest.param(MinFree(MinFreeUnit.PERCENT, 10.0), 10_000, 50, 1000, id="percent"),
        pytest.param(MinFree(MinFreeUnit.PERCENT, 0.0), 10_000, 50, 0, id="percent-zero"),
        pytest.param(MinFree(MinFreeUnit.MULTIPLE, 1.0), 10_000, 50, 50, id="multiple-1"),
        pytest.param(MinFree(MinFreeUnit.MULTIPLE, 2.5), 10_000, 50, 125, id="multiple-2.5"),
        pytest.param(MinFree(MinFreeUnit.MULTIPLE, 1.0), 10_000, 0, 0, id="multiple-no-ref"),
    ],
)
def test_resolve_target(min_free: MinFree, total: int, reference: int, expected: int) -> None:
    """resolve_target turns bytes / % of total / multiples of the newest size into bytes."""
    disk = DiskState(total=total, free=0)
    assert planner.resolve_target(min_free, disk, reference) == expected


def test_plan_reports_target_credit_and_free_after() -> None:
    """The plan carries the resolved target, in-flight credit and free space after deletion."""
    plan = planner.plan(
        inventory(
            *valid_run(100, 200, 300),
            ckpt(400, size=250 * MB, age=FRESH, integrity=INVALID),
            free=10 * MB,
        ),
        Policy(keep=1, min_free=MinFree(MinFreeUnit.MULTIPLE, 1.5)),
        now=NOW,
    )
    assert plan.target_free == 150 * MB
    assert plan.in_flight_credit == 100 * MB  # capped at the newest valid size
    assert steps_deleted(plan) == {100, 200}
    assert plan.bytes_freed == 200 * MB
    assert plan.free_after == 210 * MB
    assert plan.shortfall == 0
    assert plan.disk == DiskState(total=TOTAL, free=10 * MB)
    assert plan.directory == "models"


def test_open_and_hard_linked_deletions_are_not_counted_as_freed() -> None:
    """Deleting an open or hard-linked file adds nothing to bytes_freed or free_after."""
    plan = planner.plan(
        inventory(
            ckpt(100, open_by=(99,)),
            ckpt(200, freeable=0),
            ckpt(300, freeable=40 * MB),
            ckpt(400),
            free=5 * MB,
        ),
        Policy(keep=1, min_free=min_bytes(0)),
        now=NOW,
    )
    assert steps_deleted(plan) == {100, 200, 300}
    assert plan.bytes_freed == 40 * MB
    assert plan.free_after == 45 * MB


def test_open_file_not_counted_toward_target() -> None:
    """Free-space deletion keeps going past an open file because deleting it frees nothing."""
    plan = planner.plan(
        inventory(ckpt(100, open_by=(7, 8)), *valid_run(200, 300, 400), free=0),
        Policy(keep=5, min_free=min_bytes(100 * MB)),
        now=NOW,
    )
    assert steps_deleted(plan) == {200}
    (reason,) = [r for r in decision_for(plan, 100).reasons if r.code is ReasonCode.OPEN_ELSEWHERE]
    assert "7, 8" in text(reason)


@pytest.mark.parametrize("later", ["checkpoint_step_0100.keras", "checkpoint_step_100.keras"])
def test_same_step_two_spellings_the_later_written_is_newer(later: str) -> None:
    """Of two names for one step, the one written later is kept, whatever the names."""
    earlier = ({"checkpoint_step_0100.keras", "checkpoint_step_100.keras"} - {later}).pop()
    plan = planner.plan(
        inventory(ckpt(100, age=OLD, name=earlier), ckpt(100, age=60.0, name=later)),
        Policy(keep=1),
        now=NOW,
    )
    assert [d.checkpoint.name for d in plan.deletions] == [earlier]
    (kept,) = plan.kept
    assert kept.checkpoint.name == later
    assert ReasonCode.NEWEST_VALID in {r.code for r in kept.reasons}


def test_saves_that_overlap_and_finish_out_of_order_are_one_run() -> None:
    """Step 100 finished after step 200 but was created before 200 finished (asynchronous
    saves): one run, ordered by step; created after, it would start a run."""
    first = ckpt(200, age=60.0)
    late = ckpt(100, age=30.0)
    overlapping = replace(late, created_ns=first.mtime_ns - 10**9)
    one = planner.plan(inventory(first, overlapping), Policy(keep=1), now=NOW)
    assert len(one.runs) == 1
    assert steps_deleted(one) == {100}
    restarted = replace(late, created_ns=first.mtime_ns + 10**9)
    two = planner.plan(inventory(first, restarted), Policy(keep=1), now=NOW)
    assert len(two.runs) == 2
    assert steps_deleted(two) == set()


def test_run_reasons_name_the_earlier_run() -> None:
    """An earlier run's checkpoints say which run: its steps and when it last saved."""
    plan = planner.plan(
        inventory(
            *[ckpt(s, age=2 * OLD - (s - 25000)) for s in (25100, 25200, 25300)],
            ckpt(100, age=60.0),
        ),
        Policy(keep=3),
        now=NOW,
    )
    assert [(r.index, r.first_step, r.last_step, r.count) for r in plan.runs] == [
        (1, 25100, 25300, 3),
        (2, 100, 100, 1),
    ]
    texts = [text(r) for r in decision_for(plan, 25100).reasons]
    assert "earlier run (steps 25100\u201325300, last saved 2h ago)" in texts
    assert decision_for(plan, 25100).run == 1
    assert decision_for(plan, 100).run == 2
    assert not codes(plan, 100) & {ReasonCode.EARLIER_RUN}


def test_suspect_check_warns_with_the_preset() -> None:
    """When nothing passes the check, the plan warns naming the directory and the preset."""
    inv = Inventory(
        "models",
        (ckpt(100, integrity=INVALID), ckpt(200, integrity=INVALID)),
        DiskState(TOTAL, PLENTY),
        preset="keras",
    )
    plan = planner.plan(inv, Policy(), now=NOW)
    notice = plan.warning("check_suspect")
    assert notice is not None
    assert "no checkpoint in models passes the keras preset's completeness check" in text(notice)
    assert "is --preset right?" in text(notice)
    assert plan.deletions == ()


def test_newest_three_written_failing_warn() -> None:
    """Three newest entries written failing the check while older pass: a warning, and
    two are not enough for one."""
    older = [ckpt(s, age=2 * OLD - s) for s in (100, 200, 300)]
    failing = [ckpt(s, integrity=INVALID, age=OLD - s) for s in (400, 500, 600)]
    three = planner.plan(inventory(*older, *failing), Policy(), now=NOW)
    notice = three.warning("check_suspect")
    assert notice is not None
    assert "the 3 newest entries written in models fail" in text(notice)
    two = planner.plan(inventory(*older, *failing[1:]), Policy(), now=NOW)
    assert two.warning("check_suspect") is None


def test_zero_byte_garbage_raises_no_suspicion() -> None:
    """Empty files are garbage, not a format: no warning, and they are reclaimed for space."""
    plan = planner.plan(
        inventory(ckpt(100, integrity=INVALID, size=0, freeable=4096), free=0),
        Policy(min_free=min_bytes(TOTAL)),
        now=NOW,
    )
    assert plan.warning("check_suspect") is None
    assert steps_deleted(plan) == {100}


def test_room_for_the_next_save_is_made_while_one_is_written() -> None:
    """While a save is seen being written, the oldest goes early so that the next save,
    started the moment this one closes, finds its room; what the floor keeps then is no
    shortfall. A file merely recent (not seen written) asks nothing ahead."""
    writing = replace(ckpt(400, size=30 * MB, age=FRESH, integrity=INVALID), writing=True)
    plan = planner.plan(
        inventory(*valid_run(100, 200, 300), writing, free=40 * MB),
        Policy(keep=5, min_free=MinFree(MinFreeUnit.MULTIPLE, 1.0)),
        now=NOW,
    )
    assert steps_deleted(plan) == {100, 200}
    assert [
        r["ahead"] for r in decision_for(plan, 200).reasons if r.code is ReasonCode.FREE_SPACE
    ] == [True]
    assert plan.shortfall == 0
    alone = planner.plan(
        inventory(ckpt(300), writing, free=80 * MB),
        Policy(keep=5, min_free=MinFree(MinFreeUnit.MULTIPLE, 1.0)),
        now=NOW,
    )
    assert alone.deletions == () and alone.shortfall == 0


def test_shortfall_amount_and_warning() -> None:
    """When min-keep stops deletion, shortfall is the bytes missing and a warning says so."""
    plan = planner.plan(
        inventory(*valid_run(100, 200, 300, 400), free=10 * MB),
        Policy(keep=4, min_keep=2, min_free=min_bytes(500 * MB)),
        now=NOW,
    )
    assert steps_deleted(plan) == {100, 200}
    assert plan.shortfall == 500 * MB - 10 * MB - 200 * MB
    (warning,) = plan.warnings
    assert warning.code == "shortfall"
    assert "cannot be met" in text(warning)
    assert "--min-keep 2" in text(warning)
    assert "290.0 MB" in text(warning)


def test_no_warning_without_shortfall() -> None:
    """A plan that meets its target carries no warning and zero shortfall."""
    plan = planner.plan(
        inventory(*valid_run(100, 200), free=0), Policy(min_free=min_bytes(100 * MB)), now=NOW
    )
    assert plan.shortfall == 0
    assert plan.warnings == ()


def test_decisions_in_step_order_regardless_of_input_order() -> None:
    """Decisions come out ordered by (step, name) whatever the inventory order."""
    shuffled = [ckpt(300), ckpt(100), ckpt(7, name="checkpoint_step_7.keras"), ckpt(200)]
    shuffled.append(ckpt(7, name="checkpoint_step_007.keras"))
    plan = planner.plan(inventory(*shuffled), Policy(keep=10), now=NOW)
    assert [d.checkpoint.name for d in plan.decisions] == [
        "checkpoint_step_007.keras",
        "checkpoint_step_7.keras",
        "checkpoint_step_100.keras",
        "checkpoint_step_200.keras",
        "checkpoint_step_300.keras",
    ]


def test_duplicate_steps_are_separate_checkpoints() -> None:
    """Two names for the same step are two checkpoints; the later name is the newer one."""
    plan = planner.plan(
        inventory(
            ckpt(7, name="checkpoint_step_7.keras"),
            ckpt(7, name="checkpoint_step_007.keras"),
        ),
        Policy(keep=1),
        now=NOW,
    )
    (deleted,) = plan.deletions
    assert deleted.checkpoint.name == "checkpoint_step_007.keras"
    assert {r.code for r in plan.kept[0].reasons} >= {ReasonCode.NEWEST_VALID}


def test_empty_inventory() -> None:
    """An empty directory plans nothing and, with a multiple target, has no shortfall."""
    plan = planner.plan(inventory(free=0), Policy(), now=NOW)
    assert plan.decisions == ()
    assert plan.target_free == 0
    assert plan.shortfall == 0


def test_no_valid_checkpoint_bytes_target_deletes_corrupt_only() -> None:
    """With no valid checkpoint, free-space pressure reclaims corrupt files and nothing else,
    and never the newest min-keep of them (the check may be wrong)."""
    plan = planner.plan(
        inventory(
            ckpt(50, integrity=INVALID),
            ckpt(100, integrity=INVALID),
            ckpt(200, integrity=INVALID, age=FRESH),
            ckpt(300, pinned=True),
            free=0,
        ),
        Policy(min_free=min_bytes(TOTAL)),
        now=NOW,
    )
    assert steps_deleted(plan) == {50}
    assert ReasonCode.CORRUPT_RECLAIM in codes(plan, 50)
    assert ReasonCode.CHECK_SUSPECT in codes(plan, 100)
    assert plan.shortfall > 0


def test_planning_does_not_mutate_or_read_the_clock() -> None:
    """Planning twice with the same inputs gives the same plan (pure function of its inputs)."""
    inv = inventory(
        *valid_run(100, 200, 300),
        ckpt(400, integrity=INVALID, age=FRESH),
        ckpt(50, integrity=INVALID),
        free=0,
    )
    policy = Policy(keep=2, min_free=min_bytes(150 * MB))
    assert planner.plan(inv, policy, now=NOW) == planner.plan(inv, policy, now=NOW)


def test_now_decides_settle_not_wall_clock() -> None:
    """The same invalid file is in progress at one `now` and corrupt at a later `now`."""
    inv = inventory(ckpt(100), ckpt(200, integrity=INVALID, age=0.0))
    early = planner.plan(inv, Policy(settle_seconds=10.0), now=NOW + 5)
    late = planner.plan(inv, Policy(settle_seconds=10.0), now=NOW + 11)
    assert decision_for(early, 200).state is State.IN_PROGRESS
    assert decision_for(late, 200).state is State.CORRUPT


@pytest.mark.parametrize(
    ("checkpoint", "code", "fragments"),
    [
        pytest.param(
            ckpt(1, pinned=True), ReasonCode.PINNED, ["checkpoint_step_1.keras.keep"], id="pinned"
        ),
        pytest.param(
            ckpt(1, kind=Kind.SYMLINK), ReasonCode.IGNORED, ["symlink", "never"], id="ignored"
        ),
        pytest.param(
            ckpt(1, integrity=INVALID, age=FRESH),
            ReasonCode.IN_PROGRESS,
            ["being written", "2.0s", "settle window 10s"],
            id="in-progress-invalid",
        ),
        pytest.param(
            ckpt(1, integrity=UNCHECKED, age=FRESH),
            ReasonCode.IN_PROGRESS,
            ["recently modified"],
            id="in-progress-unchecked",
        ),
        pytest.param(
            ckpt(1, integrity=INVALID, size=0),
            ReasonCode.CORRUPT_LEFT,
            ["corrupt"],
            id="corrupt",
        ),
    ],
)
def test_state_reason_texts(checkpoint: Checkpoint, code: ReasonCode, fragments: list[str]) -> None:
    """State reasons explain themselves: pin file, entry kind, age and settle window."""
    plan = planner.plan(inventory(checkpoint), Policy(), now=NOW)
    (decision,) = plan.decisions
    (reason,) = decision.reasons
    assert reason.code is code
    for fragment in fragments:
        assert fragment in text(reason)


def test_free_space_reason_texts() -> None:
    """Free-space reasons name the target, the --min-free setting and the bytes freed."""
    plan = planner.plan(
        inventory(*valid_run(100, 200, 300), free=0),
        Policy(keep=3, min_keep=2, min_free=min_bytes(300 * MB)),
        now=NOW,
    )
    (freed,) = [r for r in decision_for(plan, 100).reasons if r.code is ReasonCode.FREE_SPACE]
    assert "300.0 MB target" in text(freed)
    assert "--min-free 300000000B" in text(freed)
    assert "frees 100.0 MB" in text(freed)
    (floor,) = [r for r in decision_for(plan, 200).reasons if r.code is ReasonCode.MIN_KEEP]
    assert "--min-keep 2" in text(floor)


def test_keep_n_reason_texts() -> None:
    """Keep-N reasons state the configured N and the tier's interval."""
    plan = planner.plan(
        inventory(*valid_run(10, 20, 30, 40)), Policy(keep=2, keep_every=20), now=NOW
    )
    beyond = [r for r in decision_for(plan, 10).reasons if r.code is ReasonCode.BEYOND_KEEP]
    assert "2 newest" in text(beyond[0])
    milestone = [r for r in decision_for(plan, 20).reasons if r.code is ReasonCode.MILESTONE]
    assert text(milestone[0]) == "tier every 20"
    newest = [r for r in decision_for(plan, 40).reasons if r.code is ReasonCode.NEWEST_VALID]
    assert "never deleted" in text(newest[0])


# ---- current behaviour on open design questions (see the report to the maintainers) ----------


def test_unchecked_forged_zero_byte_is_never_valid() -> None:
    """Even without a content check (UNCHECKED), a zero-byte file is corrupt, never the newest."""
    plan = planner.plan(
        inventory(
            *valid_run(100, 200, 300, integrity=UNCHECKED),
            ckpt(999_999_999, size=0, integrity=UNCHECKED),
        ),
        Policy(keep=1),
        now=NOW,
    )
    assert decision_for(plan, 999_999_999).state is State.CORRUPT
    assert steps_deleted(plan) == {100, 200}
    assert plan.target_free == decision_for(plan, 300).checkpoint.size


def test_multiple_target_without_valid_checkpoint_reclaims_nothing() -> None:
    """With a multiple target and no valid checkpoint, the target is 0: corrupt files stay."""
    plan = planner.plan(
        inventory(ckpt(100, integrity=INVALID), ckpt(200, integrity=INVALID), free=0),
        Policy(min_free=MinFree(MinFreeUnit.MULTIPLE, 2.0)),
        now=NOW,
    )
    assert plan.target_free == 0
    assert plan.deletions == ()
    assert plan.shortfall == 0


def test_min_keep_does_not_limit_keep_n() -> None:
    """min_keep is a floor for free-space deletions only: keep=1 still deletes below it."""
    plan = planner.plan(
        inventory(*valid_run(100, 200, 300, 400)), Policy(keep=1, min_keep=3), now=NOW
    )
    assert steps_deleted(plan) == {100, 200, 300}


def test_deletions_are_carried_out_corrupt_first_then_by_rule() -> None:
    """Plan.deletions orders corrupt reclaims, then keep-N, then free-space deletions."""
    plan = planner.plan(
        inventory(
            *valid_run(100, 200, 300, 400),
            ckpt(500, integrity=INVALID),
            free=0,
        ),
        Policy(keep=2, min_free=min_bytes(4 * SIZE)),
        now=NOW,
    )
    order = [(d.checkpoint.step, d.reasons[-1].code) for d in plan.deletions]
    assert order == [
        (500, ReasonCode.CORRUPT_RECLAIM),
        (100, ReasonCode.BEYOND_KEEP),
        (200, ReasonCode.BEYOND_KEEP),
        (300, ReasonCode.FREE_SPACE),
    ]


def test_a_free_space_deletion_names_the_keep_rule_it_overrides() -> None:
    """A checkpoint deleted for space no longer claims it is kept as one of the newest."""
    plan = planner.plan(
        inventory(*valid_run(100, 200), free=0),
        Policy(keep=3, min_free=min_bytes(SIZE)),
        now=NOW,
    )
    deleted = decision_for(plan, 100)
    assert deleted.action is Action.DELETE
    assert [r.code for r in deleted.reasons] == [ReasonCode.FREE_SPACE]
    assert "overrides --keep" in text(deleted.reasons[0])


def test_empty_corrupt_file_is_passed_over_as_occupying_no_space() -> None:
    """A zero-byte corrupt file frees nothing; its reason says so, not 'hard links'."""
    plan = planner.plan(
        inventory(*valid_run(100, 200), ckpt(300, size=0, integrity=INVALID), free=0),
        Policy(keep=3, min_free=min_bytes(SIZE)),
        now=NOW,
    )
    empty = decision_for(plan, 300)
    assert empty.action is Action.KEEP
    assert "occupies no space" in text(empty.reasons[-1])


def test_unreadable_file_is_never_counted_nor_deleted() -> None:
    """A file ckptguard may not read cannot be verified: ignored, whatever its step or age."""
    plan = planner.plan(
        inventory(*valid_run(100, 200, 300), ckpt(900, integrity=Integrity.UNREADABLE), free=0),
        Policy(keep=1, min_free=min_bytes(10 * SIZE)),
        now=NOW,
    )
    unreadable = decision_for(plan, 900)
    assert unreadable.state is State.IGNORED and unreadable.action is Action.KEEP
    assert decision_for(plan, 300).action is Action.KEEP  # still the newest valid
    assert plan.target_free == 10 * SIZE
