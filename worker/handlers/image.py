"""The `image` handler: format, size and mode, EXIF orientation applied, and a 256 px PNG preview, with Pillow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.api import JobContext, handler
from worker.handlers.common import require_content
from worker.handlers.preview import open_picture, safe_pillow, shrink, write_preview
from worker.handlers.sniff import is_image

if TYPE_CHECKING:
    from PIL import Image as PILImage

ORIENTATION_TAG = 0x0112
TRANSPOSED = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height


@handler(extensions=(".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"), sniff=is_image,
         timeout=120, description="Image: format, size, mode and a 256 px PNG preview (preview.png)")
def image(ctx: JobContext) -> dict[str, Any]:
    require_content(ctx, "image")
    ctx.progress(0, "reading the image")
    with safe_pillow(), open_picture(ctx.input_path) as picture:
        result = {"format": picture.format or "", "width": picture.width, "height": picture.height,
                  "mode": picture.mode, "animated": bool(getattr(picture, "is_animated", False))}
        orientation = _orientation(picture, ctx)
        ctx.check()
        thumb = shrink(picture)
    ctx.progress(80, "writing the preview")
    preview = write_preview(ctx, thumb)
    ctx.progress(100, "preview written")
    shown = (result["height"], result["width"]) if orientation in TRANSPOSED else (result["width"],
                                                                                  result["height"])
    return {**result, "orientation": orientation, "display_width": shown[0], "display_height": shown[1],
            "preview": preview}


def _orientation(picture: PILImage.Image, ctx: JobContext) -> int:
    try:
        value = picture.getexif().get(ORIENTATION_TAG, 1)
    except (OSError, ValueError, SyntaxError, TypeError, KeyError, IndexError) as error:  # broken EXIF: as stored
        ctx.log.warning("unreadable EXIF: %s", error)
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1
