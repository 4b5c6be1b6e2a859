"""Image files as users have them: any common format, mode and orientation, read into uint8 pixels.

A folder of photos from the web or a phone holds more than tidy 8-bit RGB
PNGs. `read_image` reads one file the way a person looking at it would see
it, and says precisely why when it cannot:

- formats: PNG, JPEG, BMP, GIF (its first frame), WebP and TIFF, recognised
  by their content. A file whose content does not match its extension (a PNG
  named `.jpg`, common in scraped folders) is read and reported as
  `extension_mismatch`, not rejected;
- orientation: the EXIF orientation tag is applied, so a phone photo taken
  sideways is upright;
- depth: 16-bit and 32-bit integer greyscale is scaled to 8 bits (v / 257
  for 16-bit, rounded), not clipped at 255;
- transparency (RGBA, LA, palette with a transparent colour) is composited
  over `BACKGROUND` (white), as a browser shows it on a white page;
- CMYK, YCbCr, LAB, HSV, palette and 1-bit images are converted to RGB or
  greyscale with Pillow's conversions (greyscale is ITU-R 601-2 luma);
- size: `image_size=(height, width)` resizes with Pillow's bilinear filter,
  which averages over the whole footprint when shrinking (antialiased);
- decompression bombs: an image of more than `max_pixels` pixels is refused
  as `too_large` before its pixels are decoded.

`UnusableFile.reason` is one of `REASONS`; errors that are not about the
file (MemoryError, KeyboardInterrupt) are not caught.

`list_image_folder` walks `root/<class>/...` without following symbolic
links to folders (a link loop cannot hang it) and returns every file with
its class, and every file it will not read with a reason.
"""

from __future__ import annotations

import io
import os
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

READABLE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
FORMAT_OF_EXTENSION = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".gif": "GIF",
    ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF",
}  # fmt: skip
COLOR_MODES = ("rgb", "grayscale")
BACKGROUND = (255, 255, 255)  # what transparent pixels are composited over
MAX_PIXELS = 40_000_000  # width x height above which a file is refused (a 40-megapixel photo is fine)
REASONS = {
    "not_an_image": "not an image (another extension, or content no image library recognises)",
    "hidden": "a hidden file or folder (name starting with '.')",
    "outside_class_folders": "not inside a class folder",
    "unreadable": "an image that cannot be decoded (empty, truncated or corrupt)",
    "permission_denied": "no permission to read it",
    "too_large": "more pixels than the decompression-bomb limit",
}
EXTENSION_MISMATCH = "extension_mismatch"  # read, but its content is another format than its extension says


class UnusableFile(Exception):
    """A file that is not used; `reason` is a key of `REASONS`, `detail` says more."""

    def __init__(self, reason: str, detail: str = ""):
        if reason not in REASONS:
            raise ValueError(f"reason must be one of {sorted(REASONS)}. Received: reason={reason!r}")
        super().__init__(f"{REASONS[reason]}: {detail}" if detail else REASONS[reason])
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class SkippedFile:
    """A file of a folder that is not used, and why (`reason`: a key of `REASONS`)."""

    path: str
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class FolderListing:
    """What `list_image_folder` found: the candidate image files and the files left out."""

    class_names: tuple[str, ...]
    files: tuple[tuple[str, int], ...]  # (path relative to the root, class index), sorted
    skipped: tuple[SkippedFile, ...]


def skipped_counts(skipped) -> dict[str, int]:
    """Reason -> number of files, for every reason in `REASONS` (zeros included, so reports line up)."""
    counts = Counter(s.reason for s in skipped)
    return {reason: counts.get(reason, 0) for reason in REASONS}


def parse_image_size(text: str) -> tuple[int, int]:
    """ "HxW" (e.g. "96x96") -> (height, width), both positive."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        height, width = (int(part) for part in parts)
    except ValueError:
        raise ValueError(f"image size must be HxW, e.g. 96x96. Received: {text!r}") from None
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive. Received: {text!r}")
    return height, width


def _to_eight_bit_mode(image):
    """`image` in mode "L", "RGB" or "RGBA", scaling deep integer greyscale instead of clipping it."""
    from PIL import Image

    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if values.max(initial=0) <= 65535 else 4294967295.0
        return Image.fromarray(np.round(np.clip(values, 0, top) * (255.0 / top)).astype(np.uint8), "L")
    if image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        scale = 255.0 if values.max(initial=0) <= 1.0 else 1.0  # floats in [0, 1], or already 0-255
        return Image.fromarray(np.round(np.clip(values * scale, 0, 255)).astype(np.uint8), "L")
    if image.mode == "P":
        return image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        return image.convert("RGBA")
    if image.mode in ("L", "RGB"):
        return image
    if image.mode == "1":
        return image.convert("L")
    return image.convert("RGB")  # CMYK, YCbCr, LAB, HSV


def _pixels(image, grayscale: bool, image_size: tuple[int, int] | None) -> np.ndarray:
    """A Pillow image (mode L or RGB) as uint8 [H, W, 1 or 3], converted and resized as the module says."""
    from PIL import Image

    image = image.convert("L" if grayscale else "RGB")
    if image_size is not None and image.size != (image_size[1], image_size[0]):
        image = image.resize((image_size[1], image_size[0]), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[..., None] if array.ndim == 2 else array


def decode_image(
    data: bytes,
    extension: str = "",
    color_mode: str = "rgb",
    image_size: tuple[int, int] | None = None,
    max_pixels: int = MAX_PIXELS,
) -> tuple[np.ndarray, bool]:
    """Decodes image bytes (module docstring) into uint8 [H, W, 1 or 3].

    Args:
        data: the file's bytes.
        extension: the file's extension (e.g. ".jpg"), to report a mismatch
            with the content; "" to not check.
        color_mode: "rgb" (3 channels) or "grayscale" (1).
        image_size: (height, width) to resize to, or None.
        max_pixels: the decompression-bomb limit.

    Returns:
        (pixels, whether the content's format differs from the extension's).

    Raises:
        UnusableFile: the bytes are not a usable image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if color_mode not in COLOR_MODES:
        raise ValueError(f"color_mode must be one of {COLOR_MODES}. Received: color_mode={color_mode!r}")
    if not data:
        raise UnusableFile("unreadable", "empty file (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise UnusableFile("not_an_image", "no image format recognised") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise UnusableFile("too_large", str(error)) from None
        except (OSError, SyntaxError, ValueError) as error:
            raise UnusableFile("unreadable", str(error) or type(error).__name__) from None
        with image:
            width, height = image.size
            if width * height > max_pixels:
                raise UnusableFile("too_large", f"{width}x{height} pixels, limit {max_pixels}")
            mismatch = bool(extension) and FORMAT_OF_EXTENSION.get(extension.lower()) not in (
                None,
                image.format,
            )
            try:
                image.seek(0)  # the first frame of an animation
                image.load()  # decodes fully: a truncated file fails here
                image = ImageOps.exif_transpose(image)
                image = _to_eight_bit_mode(image)
            except (OSError, SyntaxError, ValueError, EOFError) as error:
                raise UnusableFile("unreadable", str(error) or type(error).__name__) from None
    if image.mode == "RGBA":
        background = Image.new("RGBA", image.size, (*BACKGROUND, 255))
        image = Image.alpha_composite(background, image).convert("RGB")
    return _pixels(image, color_mode == "grayscale", image_size), mismatch


def conform(
    images: np.ndarray, image_size: tuple[int, int] | None = None, color_mode: str | None = None
) -> np.ndarray:
    """uint8 images [N, H, W, C] resized and converted as `decode_image` does (for in-memory sources).

    Args:
        images: uint8 [N, H, W, 1 or 3].
        image_size: (height, width), or None to keep the size.
        color_mode: "rgb", "grayscale", or None to keep the channels.
    """
    from PIL import Image

    if color_mode is not None and color_mode not in COLOR_MODES:
        raise ValueError(f"color_mode must be one of {COLOR_MODES}. Received: color_mode={color_mode!r}")
    channels = {"rgb": 3, "grayscale": 1}.get(color_mode, images.shape[-1])
    size = tuple(image_size) if image_size is not None else tuple(images.shape[1:3])
    if size == tuple(images.shape[1:3]) and channels == images.shape[-1]:
        return images
    out = np.empty((len(images), *size, channels), np.uint8)
    for i, pixels in enumerate(images):
        out[i] = _pixels(
            Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels), channels == 1, size
        )
    return out


def read_image(
    path: str | os.PathLike,
    color_mode: str = "rgb",
    image_size: tuple[int, int] | None = None,
    max_pixels: int = MAX_PIXELS,
) -> tuple[np.ndarray, bool]:
    """`decode_image` of a file; a file that cannot be opened is `UnusableFile` too."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except PermissionError as error:
        raise UnusableFile("permission_denied", str(error)) from None
    except IsADirectoryError as error:
        raise UnusableFile("not_an_image", str(error)) from None
    return decode_image(data, path.suffix, color_mode, image_size, max_pixels)


def list_image_folder(root: str | os.PathLike) -> FolderListing:
    """Every file under `root/<class>/` (any depth), each with its class or its reason to be left out.

    Class folders are `root`'s visible subfolders, sorted by name. Symbolic
    links to files are followed; links to folders are not (os.walk's
    default), so a link loop cannot hang the scan.
    """
    root = Path(root)
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    skipped = []
    for entry in sorted(root.iterdir()):
        if entry.is_file():
            skipped.append(SkippedFile(entry.name, "outside_class_folders"))
        elif entry.is_dir() and entry.name.startswith("."):
            skipped.append(SkippedFile(entry.name + "/", "hidden"))
    files = []
    for label, class_dir in enumerate(class_dirs):
        for folder, subfolders, names in os.walk(class_dir):
            hidden = sorted(name for name in subfolders if name.startswith("."))
            subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
            base = Path(folder)
            skipped += [
                SkippedFile((base / name).relative_to(root).as_posix() + "/", "hidden") for name in hidden
            ]
            for name in sorted(names):
                relative = (base / name).relative_to(root).as_posix()
                if name.startswith("."):
                    skipped.append(SkippedFile(relative, "hidden"))
                elif Path(name).suffix.lower() not in READABLE_EXTENSIONS:
                    skipped.append(SkippedFile(relative, "not_an_image", "extension"))
                else:
                    files.append((relative, label))
    return FolderListing(tuple(d.name for d in class_dirs), tuple(sorted(files)), tuple(skipped))
