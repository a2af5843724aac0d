"""The fallback handler for any regular file: size, SHA-256 and the type its first bytes say."""

from __future__ import annotations

import hashlib
from typing import Any

from worker.api import JobContext, handler
from worker.handlers.common import require_content
from worker.handlers.sniff import detect_type

CHUNK = 1 << 20
HEAD = 8192


@handler(timeout=600, description="Size, SHA-256 and detected type of any file")
def checksum(ctx: JobContext) -> dict[str, Any]:
    size = require_content(ctx, "data")
    digest = hashlib.sha256()
    done = 0
    with ctx.input_path.open("rb") as f:
        head = f.read(HEAD)
        digest.update(head)
        done += len(head)
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            done += len(chunk)
            ctx.progress(100 * done / size, f"{done >> 20} of {size >> 20} MiB")
    ctx.progress(100, "hashed")
    return {"size": done, "sha256": digest.hexdigest(), "type": detect_type(head)}
