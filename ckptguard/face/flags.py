"""The options' tables: (flag, metavar, help) for the policy and for what the daemon tells."""

from __future__ import annotations

from ckptguard.core.layouts import PRESETS

# The policy options every command takes: (flag, metavar, help).
POLICY = (
    (
        "--config",
        "FILE",
        "TOML config file; flags override it (default: $CKPTGUARD_CONFIG, else "
        "/etc/ckptguard/ckptguard.toml and /etc/ckptguard/conf.d/*.toml, if there)",
    ),
    ("--keep", "N", "keep the N newest valid checkpoints (3)"),
    (
        "--min-free",
        "SIZE",
        "free space to keep: 20G (GiB, as df -h shows), 20GB, 10%%, or 1x/2.5x the newest (1x)",
    ),
    ("--min-keep", "N", "the free-space rule never leaves fewer valid checkpoints (1)"),
    (
        "--keep-every",
        "STEPS[:until=STEP]",
        "also keep checkpoints whose step is a multiple of STEPS, up to STEP if given; "
        "repeat for tiers (off)",
    ),
    ("--keep-within", "DURATION", "also keep all completed within DURATION of the newest: 2d, 36h"),
    ("--keep-hourly", "N", "also keep the newest of each of the last N hours with one (0)"),
    ("--keep-daily", "N", "also keep the newest of each of the last N days with one (0)"),
    ("--keep-weekly", "N", "also keep the newest of each of the last N ISO weeks with one (0)"),
    ("--max-size", "SIZE", "the checkpoints may take at most SIZE: 200G, 200GB, 1.5TiB (off)"),
    ("--preset", "NAME", f"checkpoint layout: {', '.join(PRESETS)} (keras)"),
    (
        "--pattern",
        "TEMPLATE",
        "checkpoint name template with one {step} (the preset's, e.g. "
        "checkpoint_step_{step}.keras)",
    ),
    ("--keep-best", "N", "also keep the N best checkpoints by --metric (0)"),
    ("--metric", "NAME", "metric for --keep-best: a --pattern field or a column"),
    ("--mode", "MODE", "min or max is better (min for *loss*/*error*, else max)"),
    (
        "--metrics-file",
        "FILE",
        "CSV (CSVLogger), trainer_state.json or JSON lines with metrics per step/epoch",
    ),
    ("--settle", "SECONDS", "a file modified this recently may still be written (10)"),
    (
        "--lease",
        "DIR",
        "a shared directory guarded from several hosts: elect one deleter through lease "
        "files in DIR (on the same shared filesystem, outside the guarded directory)",
    ),
    (
        "--trash-for",
        "DURATION",
        "object storage: move deleted checkpoints to a trash prefix, emptied after "
        "DURATION (e.g. 7d, 12h; off)",
    ),
    (
        "--state-dir",
        "DIR",
        "where metric values read before are remembered, outside every guarded "
        "directory ($STATE_DIRECTORY, /var/lib/ckptguard for root, else "
        "~/.local/state/ckptguard)",
    ),
)


# Policy options that may be given several times (each adds to the list).
REPEATABLE = frozenset({"--keep-every"})


# What the daemon tells beyond its log (docs/observability.md): (flag, metavar, help).
OBSERVE = (
    ("--warn-before", "DURATION", "warn when the free-space target fails within DURATION (1h)"),
    (
        "--stale-after",
        "DURATION",
        "warn after DURATION without a new checkpoint (3 median save intervals, >= 10m)",
    ),
    ("--on-warning", "CMD", "run CMD (sh -c) with each new warning as JSON on stdin"),
    ("--on-warning-timeout", "SECONDS", "kill the --on-warning command after SECONDS (30)"),
    (
        "--metrics-textfile",
        "PATH",
        "write Prometheus metrics to PATH (*.prom) for node_exporter (needs ckptguard[metrics])",
    ),
    (
        "--metrics-listen",
        "HOST:PORT",
        "serve Prometheus metrics on HOST:PORT (off; needs ckptguard[metrics])",
    ),
)
