"""Small helpers for the files statbus keeps in its data directory."""

from __future__ import annotations

import os
import uuid
from pathlib import Path


def write_atomically(path: Path, body: bytes) -> None:
    """Write ``body`` to ``path`` so that a crash leaves the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own: an abandoned (hung) earlier write may still hold its file.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
