"""Artificial data synthesis: a "phone camera" version of any image source.

Course 3, Week 2 ("Addressing data mismatch"): when the dev/test images come
from a different device than most training images, make training data more
like dev by synthesis (the lesson's car noise added to clean speech). Here
the other device is a cheap phone camera: a hand-held tilt and offset, optics
blur, a washed-out low-contrast exposure and sensor noise.

`phone_camera(source, strength)` degrades every image of a source, at a
strength from 0 (the image unchanged) to 1 (strongly degraded). The main job
uses it to make source B (the distribution that matters) and, with
`--synthesize-train`, to make part of source A look like B, which is the
lesson's fix for data mismatch. The lesson's warning applies: synthesizing
from a small set of distortions risks overfitting to that set.

Each example's degradation depends only on its identity (and the seed), not
on its position or batch, so a synthesized split is reproducible.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import tensorflow as tf

from pipelines import image_ops
from pipelines.hashing import identity_hashes, per_example_uniform
from pipelines.sources import ImageSource


@dataclass(frozen=True)
class PhoneCamera:
    """The degradations at strength 1; each scales linearly with strength.

    Attributes:
        max_rotation_degrees: hand-held tilt, uniform in +-this.
        max_shift_fraction: framing offset, uniform in +-this times the size.
        max_blur_sigma: optics blur, Gaussian sigma up to this (pixels).
        min_contrast: contrast falls to as low as this (1 = unchanged).
        min_exposure: exposure falls to as low as this (1 = unchanged).
        max_noise_std: sensor noise standard deviation (0..255 scale).
    """

    max_rotation_degrees: float = 15.0
    max_shift_fraction: float = 0.08
    max_blur_sigma: float = 1.4
    min_contrast: float = 0.45
    min_exposure: float = 0.7
    max_noise_std: float = 22.0

    def parameters(
        self, hashes: np.ndarray, strength: float, height: int, width: int
    ) -> dict[str, np.ndarray]:
        """Per-example degradation parameters drawn from the identity hashes."""
        u = per_example_uniform(hashes, 7, stream=1)
        s = float(strength)
        return {
            "angle_degrees": s * self.max_rotation_degrees * (2 * u[:, 0] - 1),
            "shift_y": s * self.max_shift_fraction * height * (2 * u[:, 1] - 1),
            "shift_x": s * self.max_shift_fraction * width * (2 * u[:, 2] - 1),
            "blur_sigma": s * self.max_blur_sigma * (0.5 + 0.5 * u[:, 3]),
            "contrast": 1 - s * (1 - self.min_contrast) * (0.5 + 0.5 * u[:, 4]),
            "exposure": 1 - s * (1 - self.min_exposure) * u[:, 5],
            "noise_std": s * self.max_noise_std * (0.5 + 0.5 * u[:, 6]),
        }


def _gaussian_noise(hashes: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Unit Gaussian noise [N, *shape], each row a function of its hash only (Box-Muller)."""
    count = int(np.prod(shape))
    pairs = (count + 1) // 2
    u = per_example_uniform(hashes, 2 * pairs, stream=2)
    u1, u2 = np.maximum(u[:, :pairs], 1e-12), u[:, pairs:]
    radius = np.sqrt(-2.0 * np.log(u1))
    noise = np.concatenate([radius * np.cos(2 * np.pi * u2), radius * np.sin(2 * np.pi * u2)], axis=1)
    return noise[:, :count].reshape((len(hashes),) + shape).astype(np.float32)


def degrade(
    images: np.ndarray, hashes: np.ndarray, strength: float, camera: PhoneCamera = PhoneCamera()
) -> np.ndarray:
    """Phone-camera degradation of a batch of uint8 images [N, H, W, C].

    Order as in a camera: framing (rotation, shift), optics (blur), exposure
    and contrast, sensor noise, then quantization back to uint8.
    """
    if not 0 <= strength <= 1:
        raise ValueError(f"strength must be in [0, 1]. Received: strength={strength}")
    _, height, width, _ = images.shape
    p = camera.parameters(hashes, strength, height, width)
    x = tf.convert_to_tensor(images, tf.float32)
    x = image_ops.rotate_and_shift(x, p["angle_degrees"], p["shift_y"], p["shift_x"])
    x = image_ops.gaussian_blur(x, p["blur_sigma"])
    x = image_ops.adjust_contrast_exposure(x, p["contrast"], p["exposure"])
    x = x + p["noise_std"].astype(np.float32)[:, None, None, None] * _gaussian_noise(hashes, images.shape[1:])
    return tf.cast(tf.clip_by_value(tf.round(x), 0, 255), tf.uint8).numpy()


def phone_camera(
    source: ImageSource,
    strength: float,
    seed: int = 0,
    camera: PhoneCamera = PhoneCamera(),
    chunk: int = 4096,
    progress: bool = True,
) -> ImageSource:
    """The phone-camera version of every image in `source`.

    Args:
        source: the images to degrade (labels and ids are kept).
        strength: 0 keeps the images as they are, 1 is the strongest
            degradation `camera` describes.
        seed: another seed gives every example other degradation parameters.
        camera: the degradations at strength 1.
        chunk: images processed per batch (bounds memory).
        progress: show a progress bar.

    Returns:
        An `ImageSource` named "<source>+phone_camera(<strength>)".
    """
    if not 0 <= strength <= 1:
        raise ValueError(f"strength must be in [0, 1]. Received: strength={strength}")
    import keras

    hashes = identity_hashes(source.ids, salt=f"phone_camera/{seed}")
    out = np.empty((len(source), *source.image_shape), np.uint8)  # in memory, also for a streamed source
    bar = keras.utils.Progbar(len(source), unit_name="image") if progress and len(source) > chunk else None
    for start in range(0, len(source), chunk):
        stop = min(start + chunk, len(source))
        out[start:stop] = degrade(np.asarray(source.images[start:stop]), hashes[start:stop], strength, camera)
        if bar is not None:
            bar.update(stop)
    return source.replace(name=f"{source.name}+phone_camera({strength:g})", images=out)


def camera_config(camera: PhoneCamera) -> dict:
    """JSON-ready description of the degradations (saved with the run config)."""
    return asdict(camera)
