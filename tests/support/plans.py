"""Reasons in the words the face gives them."""

from __future__ import annotations

from typing import Any


def text(item: Any) -> str:
    """A reason or notice in the words the face gives it (options named as flags)."""
    from ckptguard.core.decisions import Reason
    from ckptguard.face.words import notice_text, reason_text

    return reason_text(item) if isinstance(item, Reason) else notice_text(item)
