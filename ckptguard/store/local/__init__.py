"""Checkpoints in a local directory, handled through directory file descriptors."""
