"""Planning many checkpoints on object storage, as a ratio to listing the same objects.

    python -m bench.remote [--count 10000] [--keep 3]

Needs the `remote` extra (moto's S3 server and s3fs). A moto server on 127.0.0.1 is
started and stopped by the run; `--count` keras checkpoints are uploaded under one
prefix. Then, each timed `--repeat` times (median):

- listing: one recursive listing of the prefix with s3fs (`find`, with sizes and ETags),
  what any tool that looks at the prefix pays;
- cold plan: the guard's first look (`RemoteStore.survey`, every `.keras` object's zip
  end read with one ranged GET) and the plan, by a fresh store;
- warm plan: a later look of the daemon, whose content verdicts are remembered by
  identity: the listing and the plan only.

The ratios to the listing are printed as a Markdown table; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable


def timed(action: Callable[[], object], repeat: int, *, warm_up: bool = True) -> float:
    if warm_up:
        action()  # connections opened, the server's caches warm: the same for every row
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.remote", description=__doc__)
    parser.add_argument("--count", type=int, default=10_000, help="checkpoints (10000)")
    parser.add_argument("--keep", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="timings per figure (3)")
    args = parser.parse_args(argv)

    from bench.checkpoint_files import keras_bytes
    from bench.moto_server import MotoServer, aws_environ, new_bucket, s3fs_client
    from ckptguard.core.layouts import layout_for
    from ckptguard.core.model import MinFree, MinFreeUnit, Policy
    from ckptguard.core.planner import plan
    from ckptguard.store.remote.store import RemoteStore

    server = MotoServer().start()
    try:
        with aws_environ(server):
            fs = s3fs_client(server.endpoint)
            bucket = new_bucket(fs)
            data = keras_bytes(1024)
            print(f"uploading {args.count} checkpoints...", file=sys.stderr)
            names = {f"{bucket}/run/checkpoint_step_{s}.keras": data for s in range(args.count)}
            fs.pipe(names)
            layout = layout_for("keras")
            policy = Policy(
                keep=args.keep, min_free=MinFree(MinFreeUnit.BYTES, 0), settle_seconds=0
            )
            url = f"s3://{bucket}/run"

            def listing() -> object:
                fs.invalidate_cache()
                return fs.find(f"{bucket}/run", detail=True)

            def cold() -> object:
                store = RemoteStore.open(url)
                return plan(store.survey(layout), policy, now=time.time())

            warm_store = RemoteStore.open(url)
            warm_store.survey(layout)

            def warm() -> object:
                return plan(warm_store.survey(layout), policy, now=time.time())

            print("timing...", file=sys.stderr)
            base = timed(listing, args.repeat)
            rows = [
                ("listing", base),
                ("warm plan", timed(warm, args.repeat)),
                ("cold plan", timed(cold, max(1, args.repeat // 3), warm_up=False)),
            ]
    finally:
        server.stop()
    print(f"\n{args.count} remote checkpoints (moto S3 server on 127.0.0.1)\n")
    print("| what | seconds | ratio to listing |\n|---|---:|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {seconds / base:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
