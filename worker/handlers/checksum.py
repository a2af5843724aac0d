"""The fallback handler for any regular file: size, SHA-256 and the detected type."""

from __future__ import annotations

import hashlib
from typing import Any

from worker.context import JobContext
from worker.registry import handler

CHUNK = 1 << 20


@handler(description="Size, SHA-256 and detected type of any file")
def checksum(ctx: JobContext) -> dict[str, Any]:
    size = ctx.input_path.stat().st_size
    digest = hashlib.sha256()
    done = 0
    with ctx.input_path.open("rb") as f:
        head = f.read(64)
        digest.update(head)
        done += len(head)
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            ctx.progress(100 * done / max(size, 1), f"{done >> 20} of {size >> 20} MiB")
    return {"size": size, "sha256": digest.hexdigest(), "type": "application/octet-stream"}
