"""What every model builder shares: the 'completely built' marker and the offline switch."""

from __future__ import annotations

import json
import os
from pathlib import Path

# A directory without this marker is a half-built model and is rebuilt.
_DONE = ".inferwatch-model.json"


def offline() -> None:
    """Forbid hub access in this process: builders read only local files, and libraries
    must not try either."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def is_built(path: str | Path) -> bool:
    """True when `path` holds a completely built model."""
    return (Path(path) / _DONE).is_file()


def mark_built(path: Path, kind: str) -> None:
    """Mark `path` complete (the last step of a build)."""
    (path / _DONE).write_text(json.dumps({"kind": kind}))
