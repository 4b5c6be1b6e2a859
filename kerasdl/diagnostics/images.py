"""Pictures of a classifier's mistakes, as uint8 arrays for `tf.summary.image`.

Rendered with NumPy and Pillow (no plotting library): a confusion matrix
(Course 3, Week 2: which classes are confused with which) and captioned grids
of examples (the top losses, the error-analysis contact sheet, suspected
label errors). Every function returns an RGB uint8 array [H, W, 3];
`for_summary` adds the batch axis `tf.summary.image` wants.

TensorBoard's Images dashboard draws every image 350 pixels wide
(`CARD_WIDTH`), scaling it up or down to fit. A grid wider than that is
shrunk, and its captions with it, until they cannot be read; so grids pick
as many columns as fit in `CARD_WIDTH`, and the confusion matrix sizes its
cells to fit, keeping captions at `FONT_SIZE` pixels on screen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (255, 255, 255)
INK = (0, 0, 0)
FONT_SIZE = 10  # pixels; Pillow's bundled FreeType font (Aileron)
LINE_HEIGHT = 12
CARD_WIDTH = 350  # the width, in pixels, TensorBoard's Images dashboard draws each image at


def _font() -> ImageFont.ImageFont:
    return ImageFont.load_default(size=FONT_SIZE)


def _to_rgb(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in (1, 3):
        raise ValueError(f"Images must be [H, W, 1] or [H, W, 3]. Received: shape={image.shape}")
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image


def image_grid(
    images: np.ndarray,
    captions: Sequence[str] | None = None,
    columns: int = 8,
    scale: int = 3,
    max_width: int | None = CARD_WIDTH,
) -> np.ndarray:
    """Tiles images into one picture, each with its caption (lines split on "\\n") below.

    Args:
        images: uint8 [N, H, W, C] with C = 1 or 3 (N >= 1).
        captions: one string per image, or None.
        columns: the most tiles per row.
        scale: integer upscaling of each tile (nearest neighbour), so small
            images such as Fashion-MNIST stay readable.
        max_width: fewer columns than `columns` when needed, so that the grid
            is at most this wide (one column at least); None: `columns` as given.
            The default fits TensorBoard's image card, so captions are shown
            at their size.

    Returns:
        uint8 [rows * tile height, columns * tile width, 3]; a tile is as
        wide as the wider of the scaled image and its longest caption line,
        plus a 2-pixel margin each side.
    """
    images = np.asarray(images)
    if len(images) == 0:
        raise ValueError("image_grid needs at least one image. Received: 0 images")
    if captions is not None and len(captions) != len(images):
        raise ValueError(f"One caption per image. Received: {len(images)} images, {len(captions)} captions")
    if columns < 1 or scale < 1:
        raise ValueError(f"columns and scale must be positive. Received: columns={columns}, scale={scale}")
    font = _font()
    height, width = images.shape[1] * scale, images.shape[2] * scale
    lines = [line for caption in captions for line in caption.split("\n")] if captions is not None else []
    caption_lines = max((c.count("\n") + 1 for c in captions), default=0) if captions is not None else 0
    caption_width = max((int(font.getlength(line)) + 2 for line in lines), default=0)
    tile_h, tile_w = height + caption_lines * LINE_HEIGHT + 4, max(width, caption_width) + 4
    columns = min(columns, len(images))
    if max_width is not None:
        columns = max(1, min(columns, max_width // tile_w))
    rows = -(-len(images) // columns)
    canvas = Image.new("RGB", (columns * tile_w, rows * tile_h), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for i, image in enumerate(images):
        top, left = (i // columns) * tile_h, (i % columns) * tile_w
        tile = np.kron(_to_rgb(image), np.ones((scale, scale, 1), dtype=np.uint8))
        canvas.paste(Image.fromarray(tile), (left + 2, top + 2))
        if captions is not None:
            draw.multiline_text((left + 2, top + height + 3), captions[i], fill=INK, font=font, spacing=1)
    return np.asarray(canvas)


def labelled_rows(rows: dict[str, np.ndarray], scale: int = 2, max_width: int = CARD_WIDTH) -> np.ndarray:
    """One picture with a row of images per label, the label written on the left (e.g. source A, source B).

    Args:
        rows: label -> uint8 images [N, H, W, C] (C = 1 or 3), all of one size.
        scale: integer upscaling of each image (nearest neighbour).
        max_width: each row keeps as many of its images as fit beside the
            label in this width (at least one), so TensorBoard draws the
            picture at its size.

    Returns:
        uint8 [len(rows) * (scaled height + 4), width, 3].
    """
    if not rows:
        raise ValueError("labelled_rows needs at least one row. Received: {}")
    shapes = {label: np.asarray(images).shape[1:3] for label, images in rows.items()}
    if len(set(shapes.values())) != 1 or any(len(images) == 0 for images in rows.values()):
        raise ValueError(f"Every row needs images of one size. Received: {shapes}")
    font = _font()
    height, width = (side * scale for side in next(iter(shapes.values())))
    label_w = max(int(font.getlength(label)) for label in rows) + 8
    per_row = max(1, min(max(len(images) for images in rows.values()), (max_width - label_w) // (width + 2)))
    canvas = Image.new("RGB", (label_w + per_row * (width + 2), len(rows) * (height + 4)), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for r, (label, images) in enumerate(rows.items()):
        top = r * (height + 4) + 2
        draw.text((2, top + height // 2 - FONT_SIZE // 2), label, fill=INK, font=font)
        for c, image in enumerate(np.asarray(images)[:per_row]):
            tile = np.kron(_to_rgb(image), np.ones((scale, scale, 1), dtype=np.uint8))
            canvas.paste(Image.fromarray(tile), (label_w + c * (width + 2), top))
    return np.asarray(canvas)


def confusion_matrix_image(
    matrix: np.ndarray, class_names: Sequence[str], cell: int | None = None
) -> np.ndarray:
    """The confusion matrix as a heat map: rows true, columns predicted, counts written in the cells.

    Each cell's darkness is its share of the row (the recall of the true
    class on the diagonal, the confusion rate elsewhere); off-diagonal cells
    are red, diagonal ones blue. Columns are labelled by class index, rows
    by "index name". `cell` (pixels) defaults to the largest square cell, at
    most 36 and at least 24, with which the picture fits in `CARD_WIDTH`.
    """
    matrix = np.asarray(matrix)
    k = len(class_names)
    if matrix.shape != (k, k):
        raise ValueError(f"matrix must be [classes, classes]. Received: shape={matrix.shape} for {k} classes")
    font = _font()
    label_w = max(int(font.getlength(f"{i} {name}")) for i, name in enumerate(class_names)) + 8
    if cell is None:
        cell = int(np.clip((CARD_WIDTH - label_w - 2) // k, 24, 36))
    header = 2 * LINE_HEIGHT + 4
    canvas = Image.new("RGB", (label_w + k * cell + 2, header + k * cell + 2), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((label_w, 0), "predicted", fill=INK, font=font)
    rates = row_rates(matrix)
    for i in range(k):
        draw.text((2, header + i * cell + cell // 2 - 6), f"{i} {class_names[i]}", fill=INK, font=font)
        draw.text((label_w + i * cell + cell // 2 - 4, LINE_HEIGHT + 2), str(i), fill=INK, font=font)
        for j in range(k):
            x0, y0 = label_w + j * cell, header + i * cell
            draw.rectangle(
                [x0, y0, x0 + cell, y0 + cell], fill=cell_colour(rates[i, j], i == j), outline=(200,) * 3
            )
            text = str(int(matrix[i, j]))
            ink = BACKGROUND if rates[i, j] > 0.5 else INK
            draw.text((x0 + (cell - font.getlength(text)) / 2, y0 + cell // 2 - 6), text, fill=ink, font=font)
    return np.asarray(canvas)


def row_rates(matrix: np.ndarray) -> np.ndarray:
    """Each count divided by its row's total (0 for an empty row)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


def cell_colour(rate: float, diagonal: bool) -> tuple[int, int, int]:
    """White at rate 0, full blue (diagonal) or red (confusion) at rate 1."""
    fade = int(round(255 * (1 - rate)))
    return (fade, fade, 255) if diagonal else (255, fade, fade)


def for_summary(image: np.ndarray) -> np.ndarray:
    """[H, W, 3] -> [1, H, W, 3], the shape `tf.summary.image` takes."""
    return np.asarray(image)[None]
