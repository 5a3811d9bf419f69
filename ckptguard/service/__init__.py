"""The long-running guard: the loop, per-directory guards, the watcher, systemd."""
