"""Content hashes: the sha256 of an object's canonical JSON (sorted keys, no spaces), as 64 hex digits."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def stable_hash(obj: Any) -> str:
    """The same for equal JSON-able content whatever the key order; values JSON cannot hold hash as their str()."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()
