"""ckptguard: keeps training checkpoints from filling the disk."""

__version__ = "0.1.0"
