"""Data augmentation on whole batches: vectorized, seeded, switchable.

Course 4, Week 2 ("Data augmentation"): mirroring, random cropping,
rotation, shearing, local warping and colour shifting (per-channel shifts
such as +20, -20, +20), "online and in parallel with learning". Every op
here works on a whole batch `[B, H, W, C]` at once with TensorFlow ops (no
per-image Python, no per-image `map`), draws its randomness from stateless
random ops keyed by an explicit seed, and has a switch (`enabled`) and a
strength. The same seed gives the same augmentation; `pipelines.datasets`
feeds a new seed for every batch of every epoch, so two epochs differ.

Images are float32 on the 0..255 scale (cast from uint8 before the ops run,
standardized after them), so strengths read in pixel units: a colour shift of
20 is the lesson's "+20". Grayscale (C=1) and RGB (C=3) both work; PCA colour
augmentation lives in `pipelines.pca_color` and the synthesis degradations
(blur, sensor noise, contrast) come from `pipelines.image_ops`.

`Augmenter` switches and sets the strength of each op, applies them in a
fixed order (geometry, colour, degradations) and, when rotation or shear is
on, composes crop, mirror, rotation and shear into one affine map per image,
so a batch is resampled once; with only crop and mirror it cuts each
(mirrored) window out exactly with two gathers of whole lines.

Example:

    augmenter = Augmenter.from_spec("flip=0.5,crop=4,rotation=10,color_shift=20")
    images = augmenter(uint8_batch, seed=[42, step])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import tensorflow as tf

from pipelines import image_ops
from pipelines.image_ops import as_seed

_PAD_MODES = ("constant", "reflect", "symmetric")
_FILL_MODES = ("constant", "nearest", "reflect", "wrap")


def _check_number(name: str, value: float, low: float = 0.0, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"{name} must be a number in [{low}, {high}]. Received: {name}={value!r}")
    return float(value)


def _check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}. Received: {name}={value!r}")
    return value


def _check_images(images, cast: bool = True) -> tf.Tensor:
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        raise ValueError(f"images must be a batch [B, H, W, C]. Received: shape={images.shape}")
    return tf.cast(images, tf.float32) if cast else images


def _uniform(seed, batch: tf.Tensor, limit: float, shape: Sequence[int] = ()) -> tf.Tensor:
    """Per-image draws from U(-limit, limit), shape [B, *shape]."""
    shape = tf.concat([[batch], tf.constant(list(shape), tf.int32)], 0)
    return tf.random.stateless_uniform(shape, seed, -limit, limit)


# ----------------------------------------------------------------- geometry

# The random draws of the geometric ops, shared by the ops themselves and by
# the augmenter's fused geometry (which must draw exactly the same values).


def _mirror_draws(seed, batch, probability: float) -> tf.Tensor:
    return tf.random.stateless_uniform([batch], as_seed(seed)) < probability


def _crop_offsets(seed, batch, max_top: int, max_left: int) -> tuple[tf.Tensor, tf.Tensor]:
    seeds = tf.random.split(as_seed(seed), 2)
    tops = tf.random.stateless_uniform([batch], seeds[0], 0, max_top + 1, dtype=tf.int32)
    lefts = tf.random.stateless_uniform([batch], seeds[1], 0, max_left + 1, dtype=tf.int32)
    return tops, lefts


def _angle_draws(seed, batch, max_degrees: float) -> tf.Tensor:
    return _uniform(as_seed(seed), batch, math.radians(max_degrees))


def gather_windows(
    images: tf.Tensor, tops: tf.Tensor, lefts: tf.Tensor, size: Sequence[int], mirror: tf.Tensor | None = None
) -> tf.Tensor:
    """Cuts one window per image out of a batch (exact pixels).

    Output pixel (i, j) of image b is `images[b, tops[b] + i, lefts[b] + j]`,
    or `images[b, tops[b] + i, lefts[b] + w - 1 - j]` where `mirror[b]` is
    true: mirroring is the window's column indices read backwards.

    Both cuts gather whole lines, never single pixels: the window's rows are
    gathered from the batch's rows stacked into one [B * H, W, C] tensor,
    then, after a transpose, its columns the same way. Gathering each pixel
    on its own (tf.gather with batch_dims on the column axis) moves one
    float per index and is much slower (README, "Figures behind
    design choices").

    Args:
        images: [B, H, W, C].
        tops, lefts: int32 [B], the window's top-left corner in each image.
        size: (h, w) of the windows.
        mirror: optional bool [B].

    Returns:
        [B, h, w, C].
    """
    height, width = int(size[0]), int(size[1])
    in_height, in_width, channels = images.shape[1], images.shape[2], images.shape[3]
    batch = tf.shape(images)[0]
    first = tf.range(batch)[:, None]  # the first stacked line of each image is first * lines_per_image
    rows = tf.reshape(first * in_height + tops[:, None] + tf.range(height)[None, :], [-1])
    images = tf.gather(tf.reshape(images, [-1, in_width, channels]), rows)
    columns_first = tf.transpose(tf.reshape(images, [batch, height, in_width, channels]), [0, 2, 1, 3])
    steps = tf.range(width)[None, :]
    if mirror is not None:
        steps = tf.where(mirror[:, None], width - 1 - steps, steps)
    cols = tf.reshape(first * in_width + lefts[:, None] + steps, [-1])
    images = tf.gather(tf.reshape(columns_first, [-1, height, channels]), cols)
    return tf.transpose(tf.reshape(images, [batch, width, height, channels]), [0, 2, 1, 3])


def random_flip(images, seed, probability: float = 0.5) -> tf.Tensor:
    """Mirrors each image left-right with `probability` (Course 4, Week 2: mirroring)."""
    _check_number("probability", probability, 0.0, 1.0)
    images = _check_images(images)
    mirror = _mirror_draws(seed, tf.shape(images)[0], probability)
    return tf.where(mirror[:, None, None, None], tf.reverse(images, axis=[2]), images)


def random_crop(
    images, seed, padding: int = 0, size: Sequence[int] | None = None, mode: str = "constant"
) -> tf.Tensor:
    """Pads by `padding` pixels, then cuts a random window of `size` from each image.

    Course 4, Week 2: random cropping. With `size` equal to the input size this
    is the "pad then crop" shift augmentation; with a smaller `size` it is
    AlexNet's "random 224 x 224 patches of the 256 x 256 image".

    Args:
        images: [B, H, W, C].
        seed: stateless seed.
        padding: pixels added on every side before cropping (>= 0).
        size: (h, w) of the crops; None keeps (H, W).
        mode: how padding is filled: "constant" (zeros), "reflect" or "symmetric".
    """
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be a non-negative integer. Received: padding={padding!r}")
    _check_choice("mode", mode, _PAD_MODES)
    images = _check_images(images)
    size = (images.shape[1], images.shape[2]) if size is None else tuple(size)
    if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
        raise ValueError(f"size must be (height, width) in pixels. Received: size={size!r}")
    images, tops, lefts = _pad_and_place_windows(images, seed, padding, size, mode)
    return gather_windows(images, tops, lefts, size)


def _pad_and_place_windows(
    images: tf.Tensor, seed, padding: int, size: Sequence[int], mode: str = "constant"
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Pads the batch by `padding` and draws each image's (h, w) window: (padded images, tops, lefts).

    The draws of `random_crop`, shared with the augmenter's window cut so
    both place the same windows.
    """
    height, width = images.shape[1], images.shape[2]
    if size[0] > height + 2 * padding or size[1] > width + 2 * padding:
        raise ValueError(
            f"The crop must fit in the padded image ({height + 2 * padding}x{width + 2 * padding}). "
            f"Received: size={tuple(size)}, padding={padding}"
        )
    if padding:
        images = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]], mode=mode.upper())
    max_top, max_left = images.shape[1] - size[0], images.shape[2] - size[1]
    tops, lefts = _crop_offsets(seed, tf.shape(images)[0], max_top, max_left)
    return images, tops, lefts


def _random_affine(images, seed, max_degrees: float, fill_mode: str, shear: bool) -> tf.Tensor:
    _check_choice("fill_mode", fill_mode, _FILL_MODES)
    images = _check_images(images)
    angles = _angle_draws(seed, tf.shape(images)[0], max_degrees)
    zeros = tf.zeros_like(angles)
    if shear:
        matrices = image_ops.affine_matrices(
            zeros, zeros, zeros, shear=tf.tan(angles), height=images.shape[1], width=images.shape[2]
        )
    else:
        matrices = image_ops.affine_matrices(
            angles, zeros, zeros, height=images.shape[1], width=images.shape[2]
        )
    # ImageProjectiveTransformV3 returns unknown height and width in graph mode; the shape is unchanged.
    resampled = image_ops.apply_affine(images, matrices, fill_mode=fill_mode.upper())
    return tf.ensure_shape(resampled, images.shape)


def random_rotation(images, seed, max_degrees: float = 10.0, fill_mode: str = "constant") -> tf.Tensor:
    """Rotates each image about its centre by an angle from U(-max_degrees, max_degrees).

    Course 4, Week 2: rotation. Positive angles turn the content
    counter-clockwise on screen (`pipelines.image_ops.affine_matrices`).
    `fill_mode` ("constant" = zeros, "nearest", "reflect", "wrap") fills the
    corners that come from outside the image.
    """
    _check_number("max_degrees", max_degrees, 0.0, 180.0)
    return _random_affine(images, seed, max_degrees, fill_mode, shear=False)


def random_shear(images, seed, max_degrees: float = 10.0, fill_mode: str = "constant") -> tf.Tensor:
    """Shears each image, x += tan(phi) * y about the centre, phi from U(-max_degrees, max_degrees).

    Course 4, Week 2: shearing.
    """
    _check_number("max_degrees", max_degrees, 0.0, 60.0)
    return _random_affine(images, seed, max_degrees, fill_mode, shear=True)


def bilinear_sample(images, rows: tf.Tensor, cols: tf.Tensor) -> tf.Tensor:
    """Samples images[b] at real-valued (rows[b], cols[b]) with bilinear weights.

    Points outside the image take the nearest edge pixel.

    Args:
        images: [B, H, W, C].
        rows, cols: [B, h, w] sampling coordinates in pixels.

    Returns:
        [B, h, w, C].
    """
    images = _check_images(images)
    height, width, channels = images.shape[1], images.shape[2], images.shape[3]
    rows = tf.clip_by_value(tf.cast(rows, tf.float32), 0.0, height - 1.0)
    cols = tf.clip_by_value(tf.cast(cols, tf.float32), 0.0, width - 1.0)
    top, left = tf.floor(rows), tf.floor(cols)
    dy, dx = (rows - top)[..., None], (cols - left)[..., None]
    top, left = tf.cast(top, tf.int32), tf.cast(left, tf.int32)
    bottom, right = tf.minimum(top + 1, height - 1), tf.minimum(left + 1, width - 1)
    flat = tf.reshape(images, [tf.shape(images)[0], height * width, channels])

    def pixel(r, c):
        return tf.gather(flat, r * width + c, batch_dims=1)

    upper = pixel(top, left) * (1 - dx) + pixel(top, right) * dx
    lower = pixel(bottom, left) * (1 - dx) + pixel(bottom, right) * dx
    return upper * (1 - dy) + lower * dy


def random_warp(images, seed, max_pixels: float = 1.5, grid: int = 4) -> tf.Tensor:
    """Local (elastic) warping: each pixel moves by a smooth random displacement.

    Course 4, Week 2: local warping. A displacement of U(-max_pixels,
    max_pixels) per axis is drawn at the `grid` x `grid` control points of
    each image and interpolated bicubically to every pixel (a smooth field,
    as in Simard et al. 2003, "Best practices for CNNs applied to visual
    document analysis"), then the image is resampled bilinearly.

    Args:
        images: [B, H, W, C].
        seed: stateless seed.
        max_pixels: the largest displacement at a control point, in pixels.
        grid: control points per side (>= 2); fewer points, smoother warps.
    """
    _check_number("max_pixels", max_pixels, 0.0, 64.0)
    if isinstance(grid, bool) or not isinstance(grid, int) or grid < 2:
        raise ValueError(f"grid must be an integer >= 2. Received: grid={grid!r}")
    images = _check_images(images)
    height, width = images.shape[1], images.shape[2]
    control = _uniform(as_seed(seed), tf.shape(images)[0], max_pixels, [grid, grid, 2])
    field = tf.image.resize(control, [height, width], method="bicubic")
    rows = tf.cast(tf.range(height), tf.float32)[None, :, None] + field[..., 0]
    cols = tf.cast(tf.range(width), tf.float32)[None, None, :] + field[..., 1]
    return bilinear_sample(images, rows, cols)


# ------------------------------------------------------------------- colour


def random_color_shift(images, seed, max_shift: float = 20.0) -> tf.Tensor:
    """Adds one random shift per image and channel, drawn from U(-max_shift, max_shift).

    Course 4, Week 2: colour shifting, e.g. (+20, -20, +20) on (R, G, B). On
    grayscale images the one channel's shift is a brightness change.
    """
    _check_number("max_shift", max_shift, 0.0, 255.0)
    images = _check_images(images)
    shifts = _uniform(as_seed(seed), tf.shape(images)[0], max_shift, [images.shape[-1]])
    return images + shifts[:, None, None, :]


# ------------------------------------------------- synthesis degradations


def random_blur(images, seed, max_sigma: float = 1.0) -> tf.Tensor:
    """Gaussian blur with sigma from U(0, max_sigma) per image (the synthesis degradation "optics blur")."""
    _check_number("max_sigma", max_sigma, 0.0, 16.0)
    images = _check_images(images)
    sigma = tf.random.stateless_uniform(tf.shape(images)[:1], as_seed(seed), 0.0, max_sigma)
    return image_ops.gaussian_blur(images, sigma)


def random_noise(images, seed, max_std: float = 10.0) -> tf.Tensor:
    """Adds Gaussian sensor noise with a std from U(0, max_std) per image (0..255 scale)."""
    _check_number("max_std", max_std, 0.0, 255.0)
    images = _check_images(images)
    seeds = tf.random.split(as_seed(seed), 2)
    std = tf.random.stateless_uniform(tf.shape(images)[:1], seeds[0], 0.0, max_std)
    return images + std[:, None, None, None] * tf.random.stateless_normal(tf.shape(images), seeds[1])


def random_contrast(images, seed, max_change: float = 0.3) -> tf.Tensor:
    """Scales each image's contrast about its mean by a factor from U(1 - max_change, 1 + max_change)."""
    _check_number("max_change", max_change, 0.0, 1.0)
    images = _check_images(images)
    factors = 1.0 + _uniform(as_seed(seed), tf.shape(images)[0], max_change)
    return image_ops.adjust_contrast_exposure(images, factors, 1.0)


# ----------------------------------------------------------- the augmenter

# Every op, in the order the augmenter applies them: geometry first (the crop
# first of all, so later ops touch fewer pixels), then colour, then the
# degradations. Each op reads its own slot of the split seed, so switching
# one op off leaves the randomness of the others unchanged.
_FUSED_OPS = ("crop", "flip", "rotation", "shear")
OPS = ("crop", "flip", "rotation", "shear", "warp", "color_shift", "pca_color", "contrast", "blur", "noise")
STRENGTH_MEANING = {
    "crop": "padding in pixels before a random crop (integer)",
    "flip": "probability of mirroring left-right",
    "rotation": "largest rotation angle in degrees",
    "shear": "largest shear angle in degrees",
    "warp": "largest local displacement in pixels",
    "color_shift": "largest per-channel shift on the 0..255 scale",
    "pca_color": "sigma of AlexNet's per-component alpha ~ N(0, sigma)",
    "contrast": "largest relative contrast change",
    "blur": "largest Gaussian blur sigma in pixels",
    "noise": "largest sensor-noise std on the 0..255 scale",
}


@dataclass(frozen=True)
class Op:
    """One augmentation op: its name (one of `OPS`), its strength and its switch."""

    name: str
    strength: float
    enabled: bool = True

    def __post_init__(self):
        _check_choice("name", self.name, OPS)
        _check_number(self.name, self.strength)
        if self.name == "crop" and self.strength != int(self.strength):
            raise ValueError(
                f"crop's strength is a padding in whole pixels. Received: crop={self.strength!r}"
            )


class Augmenter:
    """Applies a set of switchable ops to whole batches, seeded per batch.

    `augmenter(images, seed)` maps a batch [B, H, W, C] (uint8 or float on
    the 0..255 scale) to float32 [B, h, w, C] clipped to 0..255, where (h, w)
    is `crop_size` (or (H, W)). The same images and seed give the same
    output; `pipelines.datasets.to_dataset` passes a fresh seed for every
    batch of every epoch.

    Args:
        ops: the `Op`s; each name at most once. Disabled ops are kept (and
            listed in `describe`) but not applied.
        crop_size: (h, w) of the random crops; None keeps the input size.
            Needs the "crop" op.
        pca: a fitted `pipelines.pca_color.PCAColor`, needed by "pca_color".
        fill_mode: how rotation and shear fill the corners they uncover.
        fused: apply the geometric ops at once, with the same random draws
            as the ops one after another: with rotation or shear, crop,
            mirror, rotation and shear as one affine resampling
            (`_fused_geometry`: one interpolation instead of several, and
            only at the crop's pixels); with only crop and mirror, one exact
            window cut (`_window_geometry`). False applies the ops one after
            another.

    Example:

        augmenter = Augmenter.from_spec("flip=0.5,crop=2,rotation=10,!warp=1.5")
        batch = augmenter(images, seed=[0, 7])  # warp is switched off ("!")
    """

    def __init__(
        self,
        ops: Sequence[Op] = (),
        crop_size: Sequence[int] | None = None,
        pca=None,
        fill_mode: str = "constant",
        fused: bool = True,
    ):
        names = [op.name for op in ops]
        if len(set(names)) != len(names):
            raise ValueError(f"Each op may appear once. Received: ops={names}")
        self.ops = {op.name: op for op in sorted(ops, key=lambda op: OPS.index(op.name))}
        if crop_size is not None:
            crop_size = tuple(crop_size)
            if len(crop_size) != 2 or not all(isinstance(s, int) and s > 0 for s in crop_size):
                raise ValueError(
                    f"crop_size must be (height, width) in pixels. Received: crop_size={crop_size!r}"
                )
            if not self.is_on("crop"):
                raise ValueError(
                    f"crop_size needs the crop op switched on (crop=0 for no padding). Received: ops={names}"
                )
        if self.is_on("pca_color") and pca is None:
            raise ValueError("The pca_color op needs a fitted PCA: pass pca=PCAColor.fit(train_images).")
        self.crop_size = crop_size
        self.pca = pca
        self.fill_mode = _check_choice("fill_mode", fill_mode, _FILL_MODES)
        self.fused = bool(fused)

    @classmethod
    def from_spec(
        cls,
        spec: str,
        crop_size: Sequence[int] | None = None,
        train_images=None,
        fill_mode: str = "constant",
        fused: bool = True,
    ) -> Augmenter:
        """Builds an augmenter from text such as "flip=0.5,crop=4,!rotation=10".

        Each item is `name=strength`; a leading "!" keeps the op but switches
        it off. "" or "none" is no augmentation. `train_images` are needed
        when pca_color is on: the PCA is fitted on them, once. The other
        arguments are the constructor's.
        """
        ops = []
        for item in filter(None, (part.strip() for part in spec.split(","))):
            if item.lower() == "none":
                continue
            name, sep, value = item.partition("=")
            enabled = not name.startswith("!")
            name = name.lstrip("!").strip()
            try:
                strength = float(value)
            except ValueError:
                strength = None
            if not sep or strength is None:
                raise ValueError(
                    f"Augmentation items are name=strength with name in {OPS}. Received: {item!r}"
                )
            ops.append(Op(name, strength, enabled))
        pca = None
        if any(op.name == "pca_color" and op.enabled for op in ops):
            from pipelines.pca_color import PCAColor

            if train_images is None:
                raise ValueError("pca_color needs the training images to fit its PCA: pass train_images=...")
            pca = PCAColor.fit(train_images)
        return cls(ops, crop_size=crop_size, pca=pca, fill_mode=fill_mode, fused=fused)

    def is_on(self, name: str) -> bool:
        """Whether op `name` is present and switched on."""
        op = self.ops.get(name)
        return op is not None and op.enabled

    def switched(self, name: str, enabled: bool) -> Augmenter:
        """A copy with op `name` switched on or off."""
        if name not in self.ops:
            raise ValueError(
                f"No op named {name!r} in this augmenter. Received: name={name!r}; has {list(self.ops)}"
            )
        ops = [
            Op(op.name, op.strength, enabled if op.name == name else op.enabled) for op in self.ops.values()
        ]
        return Augmenter(ops, self.crop_size, self.pca, self.fill_mode, self.fused)

    def describe(self) -> dict:
        """JSON-ready settings: each op's strength and switch."""
        return {
            "ops": {op.name: {"strength": op.strength, "enabled": op.enabled} for op in self.ops.values()},
            "crop_size": self.crop_size,
            "fill_mode": self.fill_mode,
            "fused": self.fused,
        }

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the augmented images for inputs of (height, width)."""
        return self.crop_size if self.crop_size is not None else (height, width)

    def _fused_geometry(self, images: tf.Tensor, seeds: tf.Tensor) -> tf.Tensor:
        """Crop, mirror, rotation and shear as one affine resampling of the whole batch.

        The same draws as the separate ops, composed into one output->input
        map per image, M = crop @ mirror @ rotation @ shear, so the batch is
        interpolated once instead of once per op, only at the crop's pixels,
        and the corners a rotated crop uncovers come from the image around
        it instead of from the fill.
        """
        batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
        out_h, out_w = self.output_size(height, width)
        eye = tf.eye(3, batch_shape=[batch])
        zeros = tf.zeros([batch])

        def as_matrices(rows):  # ImageProjectiveTransformV3 rows [B, 8] -> [B, 3, 3]
            return tf.reshape(tf.concat([rows, tf.ones([batch, 1])], axis=1), [-1, 3, 3])

        matrix = eye
        if self.is_on("shear"):
            angles = _angle_draws(seeds[OPS.index("shear")], batch, self.ops["shear"].strength)
            shear = image_ops.affine_matrices(
                zeros, zeros, zeros, shear=tf.tan(angles), height=out_h, width=out_w
            )
            matrix = as_matrices(shear)
        if self.is_on("rotation"):
            angles = _angle_draws(seeds[OPS.index("rotation")], batch, self.ops["rotation"].strength)
            matrix = (
                as_matrices(image_ops.affine_matrices(angles, zeros, zeros, height=out_h, width=out_w))
                @ matrix
            )
        if self.is_on("flip"):
            mirror = _mirror_draws(seeds[OPS.index("flip")], batch, self.ops["flip"].strength)
            flip = tf.constant([[-1.0, 0.0, out_w - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
            matrix = tf.where(mirror[:, None, None], flip, eye) @ matrix
        if self.is_on("crop"):
            padding = int(self.ops["crop"].strength)
            max_top, max_left = height + 2 * padding - out_h, width + 2 * padding - out_w
            if max_top < 0 or max_left < 0:
                raise ValueError(f"The crop must fit in the padded image. Received: size={(out_h, out_w)}")
            tops, lefts = _crop_offsets(seeds[OPS.index("crop")], batch, max_top, max_left)
            shift = tf.stack(
                [tf.cast(lefts - padding, tf.float32), tf.cast(tops - padding, tf.float32)], axis=1
            )
            matrix = (
                tf.concat([eye[:, :, :2], tf.concat([shift, tf.ones([batch, 1])], 1)[:, :, None]], 2) @ matrix
            )
        rows = tf.reshape(matrix, [-1, 9])[:, :8]
        resampled = tf.raw_ops.ImageProjectiveTransformV3(
            images=images,
            transforms=rows,
            output_shape=[out_h, out_w],
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode=self.fill_mode.upper(),
        )
        return tf.ensure_shape(resampled, [None, out_h, out_w, images.shape[3]])

    def _window_geometry(self, images: tf.Tensor, seeds: tf.Tensor) -> tf.Tensor:
        """Crop and mirror as one exact window cut of the whole batch (`gather_windows`).

        The same draws as `random_crop` then `random_flip`, and the same
        pixels: the mirrored crop is the crop's window read backwards.
        """
        batch = tf.shape(images)[0]
        out_h, out_w = self.output_size(images.shape[1], images.shape[2])
        tops = lefts = tf.zeros([batch], tf.int32)
        if self.is_on("crop"):
            padding, seed = int(self.ops["crop"].strength), seeds[OPS.index("crop")]
            images, tops, lefts = _pad_and_place_windows(images, seed, padding, (out_h, out_w))
        mirror = None
        if self.is_on("flip"):
            mirror = _mirror_draws(seeds[OPS.index("flip")], batch, self.ops["flip"].strength)
        return gather_windows(images, tops, lefts, (out_h, out_w), mirror)

    def __call__(self, images, seed) -> tf.Tensor:
        images = _check_images(images, cast=False)
        seeds = tf.random.split(as_seed(seed), len(OPS))
        # Plain boolean expressions, no generator: autograph converts this method when an Augmenter is
        # called inside a function that tf.data traces, and once failed on a generator expression here.
        affine = self.fused and (self.is_on("rotation") or self.is_on("shear"))
        window = self.fused and not affine and (self.is_on("crop") or self.is_on("flip"))
        fused = affine or window
        # uint8 pixels are in 0..255, and cutting windows keeps them exact: clip only after other ops.
        in_range = images.dtype == tf.uint8
        if window:
            # Before the cast: gathering 1-byte pixels moves a quarter of the bytes of float32 ones.
            images = self._window_geometry(images, seeds)
        images = tf.cast(images, tf.float32)
        if affine:
            images = self._fused_geometry(images, seeds)
        for name, op in self.ops.items():
            if not op.enabled or (fused and name in _FUSED_OPS):
                continue
            in_range = False
            s, strength = seeds[OPS.index(name)], op.strength
            if name == "crop":
                images = random_crop(images, s, int(strength), self.crop_size)
            elif name == "flip":
                images = random_flip(images, s, strength)
            elif name == "rotation":
                images = random_rotation(images, s, strength, self.fill_mode)
            elif name == "shear":
                images = random_shear(images, s, strength, self.fill_mode)
            elif name == "warp":
                images = random_warp(images, s, strength)
            elif name == "color_shift":
                images = random_color_shift(images, s, strength)
            elif name == "pca_color":
                images = self.pca(images, s, strength)
            elif name == "contrast":
                images = random_contrast(images, s, strength)
            elif name == "blur":
                images = random_blur(images, s, strength)
            else:
                images = random_noise(images, s, strength)
        if affine or not in_range:
            images = tf.clip_by_value(images, 0.0, 255.0)
        return images
