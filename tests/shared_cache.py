"""The session's shared folder of prepared datasets, linked into each test's otherwise empty cache."""

from __future__ import annotations

import os
from pathlib import Path

SHARED_PREPARED_ENV = "PNEUMOGAN_TEST_SHARED_PREPARED"


def with_shared_prepared(cache: Path) -> Path:
    """`cache` (a $PNEUMOGAN_CACHE_DIR) with its `prepared/` folder linked to the session's shared one."""
    cache.mkdir(parents=True, exist_ok=True)
    shared = os.environ.get(SHARED_PREPARED_ENV)
    link = cache / "prepared"
    if shared and not link.exists():
        link.symlink_to(shared, target_is_directory=True)
    return cache
