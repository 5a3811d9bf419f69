"""A chaos soak: writers, an independent checker, and a daemon killed and restarted at random.

For a fixed time several writer processes create, rewrite, truncate, pin, unpin and delete
checkpoints in one guarded directory DIR, while `ckptguard run --dir DIR --keep K --settle S`
(a real subprocess) is killed with SIGKILL, sometimes stopped with SIGTERM, and restarted
at random intervals. A checker process samples DIR continuously. Canary files live
outside DIR (reached from inside through symlinks named like checkpoints), non-matching
canaries and permanently pinned checkpoints live inside it. One writer reaches DIR by
another path (a bind mount of it, as a container would; a symlink when not root). The
guard keeps the best checkpoint by `val_loss` from a CSV metrics file the writers append
to and, once the guard has recorded the best value, truncate at random (as a restarted
Keras `CSVLogger` does).

Writers never act on the newest complete checkpoint, act only on files they created
themselves, and journal every action (one JSON line each, O_APPEND, with a timestamp)
before doing it, so their own deletions, truncations and unpins are never mistaken for
the daemon's. Violations, counted separately (all must be 0):

1. the newest valid checkpoint deleted by someone other than a writer;
2. a file deleted while being written, a pinned checkpoint or a non-matching file deleted;
3. anything outside DIR changed, or the symlinks or their targets touched;
4. a complete checkpoint deleted while an older unpinned complete one remained;
5. a complete checkpoint deleted while fewer than K newer valid ones could exist (so
   something invalid was counted as valid), or, after the writers stop and K+2 more saves
   and some forged newer ones, the complete unpinned checkpoints left are not the K newest;
6. after the final settle, `ckptguard prune --json` would still delete something;
7. the daemon exited without being killed, or printed a Traceback;
b. the best checkpoint by the metric deleted (its row truncated away from the metrics file);
x. (extra) a corrupt file deleted although space was never short.

    python -m bench.soak --seconds 600      # Markdown table + bench/results/soak-*.json
    python -m bench.soak --seconds 30

The soak is an oracle independent of ckptguard: nothing in this package imports the
`ckptguard` package (see `oracle`). The modules, each owning one thing:

    __main__       the command line
    supervisor     the Soak: phases, clean-up, the result document
    world          DIR, its canaries, symlinks, pins, best checkpoint and metrics file
    guard          the guard under test and its options
    chaos          daemons killed and restarted
    final_checks   the final settle and the prune preview
    daemon_logs    the daemons' JSON logs checked
    writer         the writer process (internal entry point)
    checker        the checker process (internal entry point)
    attribution    who removed what: the checker's samples against the journal
    oracle         the soak's own reading of DIR: completeness, pins
    saves          archives, broken ones, and the slow write of either
    journal        the append-only journal and what is read from it
    steps          step numbers read from names, and the counter the processes share
    violations     the invariants, and violations flagged and counted
    report         the Markdown table
"""
