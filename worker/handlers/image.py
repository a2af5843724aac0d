"""The `image` handler: format, size and mode, EXIF orientation applied, and a 256 px PNG thumbnail, with Pillow."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from worker.api import JobContext, handler
from worker.handlers.common import BadFile, UnsafeFile, output_stream, require_content
from worker.handlers.sniff import is_image

if TYPE_CHECKING:
    from PIL import Image as PILImage

THUMBNAIL_PX = 256
MAX_PIXELS = 89_478_485  # Pillow's own default: about 0.25 GiB of RGB; more is treated as a bomb
# Only these decoders are tried: Image.open otherwise probes every plugin, some of which parse exotic formats
# or (EPS) run Ghostscript. The sniffer claims the same formats.
FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")
ORIENTATION_TAG = 0x0112
TRANSPOSED = frozenset({5, 6, 7, 8})  # EXIF orientations that swap width and height


@handler(extensions=(".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff"), sniff=is_image,
         timeout=120, description="Image: format, size, mode and a 256 px PNG thumbnail (thumbnail.png)")
def image(ctx: JobContext) -> dict[str, Any]:
    from PIL import Image, ImageFile

    require_content(ctx, "image")
    # A plugin in the same process may have relaxed these: ours are the safe values.
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    ctx.progress(0, "reading the image")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with _open(ctx) as picture:
            result = {"format": picture.format or "", "width": picture.width, "height": picture.height,
                      "mode": picture.mode, "animated": bool(getattr(picture, "is_animated", False))}
            orientation = _orientation(picture, ctx)
            ctx.check()
            thumb = _thumbnail(picture)
    ctx.progress(80, "writing the thumbnail")
    with output_stream(ctx, "thumbnail.png") as out:
        thumb.save(out, "PNG")
    ctx.progress(100, "thumbnail written")
    shown = (result["height"], result["width"]) if orientation in TRANSPOSED else (result["width"],
                                                                                  result["height"])
    return {**result, "orientation": orientation, "display_width": shown[0], "display_height": shown[1],
            "thumbnail": {"file": "thumbnail.png", "width": thumb.width, "height": thumb.height}}


def _open(ctx: JobContext) -> PILImage.Image:
    from PIL import Image, UnidentifiedImageError

    Image.init()
    available = [name for name in FORMATS if name in Image.OPEN]  # a Pillow built without WebP lacks it
    try:
        return Image.open(ctx.input_path, formats=available)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise UnsafeFile(f"refused as a decompression bomb: {error}") from error
    except UnidentifiedImageError as error:
        raise BadFile(f"not an image this handler reads ({', '.join(FORMATS)}), or damaged") from error
    except (OSError, ValueError, SyntaxError, EOFError) as error:  # Pillow's ways of saying "damaged header"
        raise BadFile(f"the image is damaged: {error}") from error


def _orientation(picture: PILImage.Image, ctx: JobContext) -> int:
    try:
        value = picture.getexif().get(ORIENTATION_TAG, 1)
    except (OSError, ValueError, SyntaxError, TypeError, KeyError) as error:  # broken EXIF: shown as stored
        ctx.log.warning("unreadable EXIF: %s", error)
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _thumbnail(picture: PILImage.Image) -> PILImage.Image:
    """Decode (JPEGs at a reduced scale), apply the EXIF orientation, and shrink to fit 256 x 256."""
    from PIL import Image, ImageOps

    try:
        picture.draft("RGB", (THUMBNAIL_PX, THUMBNAIL_PX))  # JPEG decodes at 1/2 to 1/8 scale: less memory
        picture.load()
        upright = ImageOps.exif_transpose(picture) or picture
        if upright.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
            upright = upright.convert("RGBA" if "A" in upright.getbands() else "RGB")
        upright.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise UnsafeFile(f"refused as a decompression bomb: {error}") from error
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise BadFile(f"the image is damaged or truncated: {error}") from error
    return upright
