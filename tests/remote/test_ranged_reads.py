"""Content checks on S3 (moto's server) read an object only as it was listed."""

from __future__ import annotations

from typing import Any

import pytest
from support import upload

from ckptguard.store.remote.location import parse
from ckptguard.store.remote.objects import ObjectChanged, list_objects, read_range


def test_ranged_read_is_of_the_version_listed(bucket: Any) -> None:
    """The read asks for the listed ETag (If-Match): an object uploaded again since is
    refused (looked at again on the next poll) instead of its new bytes judged as the old."""
    location = parse(bucket.url())
    upload(bucket.fs, location.root, {"checkpoint_step_1.keras": b"first version"})
    listed = list_objects(bucket.fs, location)["checkpoint_step_1.keras"]
    assert read_range(bucket.fs, location, listed, 0, 5) == b"first"
    upload(bucket.fs, location.root, {"checkpoint_step_1.keras": b"second version"})
    with pytest.raises(ObjectChanged):
        read_range(bucket.fs, location, listed, 0, 6)
