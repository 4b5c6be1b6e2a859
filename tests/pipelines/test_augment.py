"""Tests for pipelines.augment and the augmented tf.data assembly in pipelines.datasets.

Oracles: NumPy (windows, mirrors, shifts), np.rot90 (rotation direction),
scipy.ndimage.affine_transform / map_coordinates (shear, bilinear sampling).
"""

import math

import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from pipelines import augment
from pipelines.augment import Augmenter, Op
from pipelines.datasets import read_augmented, to_dataset, write_augmented
from pipelines.sources import ImageSource


def _images(n=16, size=12, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, size, size, channels)).astype(np.uint8)


def _source(n=40, size=12, channels=1):
    images = _images(n, size, channels)
    return ImageSource(
        "toy",
        images,
        np.arange(n, dtype=np.int64) % 3,
        np.array([f"toy/{i}" for i in range(n)]),
        ("a", "b", "c"),
    )


class TestOps:
    def test_flip_mirrors_exactly_the_drawn_images(self):
        images = _images(64).astype(np.float32)
        out = augment.random_flip(images, [1, 2], probability=0.5).numpy()
        mirrored = np.array([np.array_equal(o, i[:, ::-1]) for o, i in zip(out, images, strict=True)])
        kept = np.array([np.array_equal(o, i) for o, i in zip(out, images, strict=True)])
        assert np.all(mirrored | kept) and 10 < mirrored.sum() < 54
        assert np.array_equal(augment.random_flip(images, [5, 5], probability=0.0).numpy(), images)
        assert np.array_equal(
            augment.random_flip(images, [5, 5], probability=1.0).numpy(), images[:, :, ::-1]
        )

    @pytest.mark.parametrize("padding,size", [(2, None), (0, (8, 9)), (3, (10, 10))])
    def test_crop_is_a_window_of_the_padded_image(self, padding, size):
        images = _images(24, channels=3).astype(np.float32)
        out = augment.random_crop(images, [3, 4], padding=padding, size=size).numpy()
        h, w = size or (12, 12)
        assert out.shape == (24, h, w, 3)
        padded = np.pad(images, [(0, 0), (padding, padding), (padding, padding), (0, 0)])
        offsets = set()
        for b in range(len(images)):
            found = [
                (t, left)
                for t in range(padded.shape[1] - h + 1)
                for left in range(padded.shape[2] - w + 1)
                if np.array_equal(padded[b, t : t + h, left : left + w], out[b])
            ]
            assert found, f"crop {b} is not a window of its padded image"
            offsets.add(found[0])
        assert len(offsets) > 1  # different images get different windows

    def test_rotation_turns_counter_clockwise_like_rot90(self):
        images = _images(4, size=9).astype(np.float32)
        out = augment.image_ops.rotate_and_shift(images, 90.0, 0.0, 0.0, fill_mode="CONSTANT").numpy()
        np.testing.assert_allclose(out, np.rot90(images, k=1, axes=(1, 2)), atol=1e-3)

    def test_random_rotation_stays_within_its_range(self):
        # A single bright pixel on a ring of radius 4 moves along the ring by at most max_degrees.
        images = np.zeros((32, 21, 21, 1), np.float32)
        images[:, 10, 14] = 255.0
        out = augment.random_rotation(images, [0, 1], max_degrees=20.0).numpy()[..., 0]
        rows, cols = np.indices((21, 21))
        weights = out.reshape(32, -1)
        y = (weights * rows.ravel()).sum(1) / weights.sum(1) - 10
        x = (weights * cols.ravel()).sum(1) / weights.sum(1) - 10
        angles = np.degrees(np.arctan2(-y, x))  # counter-clockwise on screen is positive
        assert np.all(np.abs(angles) <= 20.5) and np.std(angles) > 3

    def test_shear_matches_scipy_affine_transform(self):
        images = _images(1, size=11).astype(np.float32)
        angle = math.radians(15)
        matrices = augment.image_ops.affine_matrices(
            tf.zeros([1]), 0.0, 0.0, shear=math.tan(angle), height=11, width=11
        )
        out = augment.image_ops.apply_affine(images, matrices, fill_mode="CONSTANT").numpy()[0, ..., 0]
        # Forward map x' = x + tan(a) * (y - c); scipy wants output (row, col) -> input (row, col).
        c = 5.0
        inverse = np.array([[1.0, 0.0], [-math.tan(angle), 1.0]])
        offset = np.array([c, c]) - inverse @ np.array([c, c])
        expected = ndimage.affine_transform(
            images[0, ..., 0], inverse, offset=offset, order=1, mode="constant"
        )
        # Away from the border (where the two libraries treat edge samples differently) they agree.
        np.testing.assert_allclose(out[2:-2, 2:-2], expected[2:-2, 2:-2], atol=1e-2)

    def test_bilinear_sample_matches_scipy_map_coordinates(self):
        images = _images(2, size=10, channels=2).astype(np.float32)
        rng = np.random.default_rng(1)
        rows = rng.uniform(-1, 10, size=(2, 7, 7)).astype(np.float32)
        cols = rng.uniform(-1, 10, size=(2, 7, 7)).astype(np.float32)
        out = augment.bilinear_sample(images, rows, cols).numpy()
        for b in range(2):
            for c in range(2):
                expected = ndimage.map_coordinates(
                    images[b, ..., c],
                    [np.clip(rows[b], 0, 9), np.clip(cols[b], 0, 9)],
                    order=1,
                    mode="nearest",
                )
                np.testing.assert_allclose(out[b, ..., c], expected, atol=1e-3)

    def test_warp_is_local_and_bounded(self):
        images = _images(8, size=16).astype(np.float32)
        assert np.allclose(augment.random_warp(images, [1, 1], max_pixels=0.0).numpy(), images, atol=1e-4)
        out = augment.random_warp(images, [1, 1], max_pixels=1.0).numpy()
        assert not np.allclose(out, images)
        # Each output pixel is a convex combination of input pixels within 1 pixel (plus bicubic overshoot).
        lo = ndimage.minimum_filter(images, size=(1, 5, 5, 1))
        hi = ndimage.maximum_filter(images, size=(1, 5, 5, 1))
        assert np.all(out >= lo - 1e-3) and np.all(out <= hi + 1e-3)

    @pytest.mark.parametrize("channels", [1, 3])
    def test_color_shift_is_one_bounded_shift_per_image_and_channel(self, channels):
        images = np.full((50, 6, 6, channels), 128.0, np.float32)
        delta = augment.random_color_shift(images, [9, 9], max_shift=20.0).numpy() - images
        per_pixel = delta.reshape(50, -1, channels)
        assert np.allclose(per_pixel, per_pixel[:, :1])
        shifts = per_pixel[:, 0]
        assert np.all(np.abs(shifts) <= 20.0) and shifts.std() > 5
        if channels == 3:
            assert abs(np.corrcoef(shifts[:, 0], shifts[:, 1])[0, 1]) < 0.5  # channels shift independently

    def test_degradations(self):
        images = _images(16, size=12).astype(np.float32)
        blurred = augment.random_blur(images, [1, 2], max_sigma=2.0).numpy()
        assert blurred.std() < images.std()
        noisy = augment.random_noise(images, [1, 2], max_std=10.0).numpy() - images
        assert 0 < noisy.std() < 10.0
        contrast = augment.random_contrast(images, [1, 2], max_change=0.5).numpy()
        np.testing.assert_allclose(contrast.mean(axis=(1, 2, 3)), images.mean(axis=(1, 2, 3)), rtol=1e-4)

    @pytest.mark.parametrize(
        "call,match",
        [
            (lambda x: augment.random_flip(x, [0, 0], probability=1.5), "probability"),
            (lambda x: augment.random_crop(x, [0, 0], padding=-1), "padding"),
            (lambda x: augment.random_crop(x, [0, 0], size=(20, 20)), "fit"),
            (lambda x: augment.random_crop(x, [0, 0], mode="wrap"), "mode"),
            (lambda x: augment.random_rotation(x, [0, 0], max_degrees=-1), "max_degrees"),
            (lambda x: augment.random_warp(x, [0, 0], grid=1), "grid"),
            (lambda x: augment.random_color_shift(x, [0, 0], max_shift=300), "max_shift"),
            (lambda x: augment.random_flip(x, [1, 2, 3]), "seed"),
            (lambda x: augment.random_flip(x[0], [1, 2]), "batch"),
        ],
    )
    def test_bad_arguments(self, call, match):
        with pytest.raises(ValueError, match=match):
            call(_images(2).astype(np.float32))


class TestAugmenter:
    SPEC = "flip=0.5,crop=2,rotation=10,shear=5,warp=1,color_shift=20,contrast=0.2,blur=0.5,noise=3"

    def test_same_seed_same_output_and_seeds_differ(self):
        augmenter = Augmenter.from_spec(self.SPEC)
        images = _images(8, channels=3)
        a, b = augmenter(images, [1, 2]).numpy(), augmenter(images, [1, 2]).numpy()
        c = augmenter(images, [1, 3]).numpy()
        assert np.array_equal(a, b) and not np.allclose(a, c)
        assert a.min() >= 0 and a.max() <= 255 and a.dtype == np.float32

    def test_switching_an_op_off_removes_it_and_keeps_the_others(self):
        images = _images(8)
        both = Augmenter.from_spec("flip=0.5,color_shift=20")
        flip_only = both.switched("color_shift", False)
        flip_seed = tf.random.split(tf.constant([4, 4], tf.int64), len(augment.OPS))[
            augment.OPS.index("flip")
        ]
        expected = tf.clip_by_value(augment.random_flip(images, flip_seed, 0.5), 0, 255)
        np.testing.assert_array_equal(flip_only(images, [4, 4]).numpy(), expected.numpy())
        assert not flip_only.is_on("color_shift") and "color_shift" in flip_only.describe()["ops"]
        assert Augmenter.from_spec("!flip=1").describe()["ops"]["flip"] == {"strength": 1.0, "enabled": False}
        np.testing.assert_array_equal(Augmenter.from_spec("!flip=1")(images, [0, 0]).numpy(), images)

    def test_fused_geometry_equals_the_ops_one_after_another(self):
        images = _images(32, size=16, channels=3)
        seed = tf.constant([5, 6], tf.int64)
        # Without rotation the fused affine map is an exact crop and mirror.
        spec = "crop=2,flip=0.5,rotation=0"
        fused = Augmenter.from_spec(spec, crop_size=(12, 13))(images, seed).numpy()
        separate = Augmenter.from_spec(spec, crop_size=(12, 13), fused=False)(images, seed).numpy()
        np.testing.assert_allclose(fused, separate, atol=1e-3)
        # With a rotation or a shear both resample once at the same points; away from the crop's border
        # (where the separate ops fill and the fused map reads the image around the crop) pixels agree.
        for geometry in ("rotation=10", "shear=8"):
            spec = f"crop=2,flip=0.5,{geometry},color_shift=10"
            fused = Augmenter.from_spec(spec, crop_size=(12, 12))(images, seed).numpy()
            separate = Augmenter.from_spec(spec, crop_size=(12, 12), fused=False)(images, seed).numpy()
            np.testing.assert_allclose(fused[:, 3:-3, 3:-3], separate[:, 3:-3, 3:-3], atol=1e-2)
            assert not np.allclose(fused[:, :2, :2], separate[:, :2, :2])

    @pytest.mark.parametrize(
        "spec,crop_size,channels",
        [
            ("crop=0,flip=0.5", (9, 10), 1),
            ("crop=2,flip=0.5", (12, 13), 3),
            ("crop=3", None, 1),
            ("flip=0.5", None, 3),
        ],
    )
    def test_window_cut_equals_crop_then_flip(self, spec, crop_size, channels):
        # Without rotation or shear the fused path cuts (mirrored) windows; the ops one after another
        # (pad, crop with per-pixel indices, tf.reverse) are its oracle, with the same draws.
        images = _images(64, channels=channels)
        seed = tf.constant([8, 9], tf.int64)
        window = Augmenter.from_spec(spec, crop_size=crop_size)(images, seed).numpy()
        separate = Augmenter.from_spec(spec, crop_size=crop_size, fused=False)(images, seed).numpy()
        np.testing.assert_array_equal(window, separate)

    def test_gather_windows_matches_numpy_indexing(self):
        images = _images(20, channels=3).astype(np.float32)
        rng = np.random.default_rng(3)
        tops, lefts = rng.integers(0, 5, 20), rng.integers(0, 4, 20)
        mirror = rng.random(20) < 0.5
        out = augment.gather_windows(images, tops.astype(np.int32), lefts.astype(np.int32), (8, 9), mirror)
        for b in range(20):
            window = images[b, tops[b] : tops[b] + 8, lefts[b] : lefts[b] + 9]
            np.testing.assert_array_equal(out[b], window[:, ::-1] if mirror[b] else window)

    def test_crop_size_sets_the_output_size(self):
        augmenter = Augmenter.from_spec("crop=0,flip=0.5", crop_size=(9, 10))
        assert augmenter(_images(3), [0, 0]).shape == (3, 9, 10, 1)
        assert augmenter.output_size(12, 12) == (9, 10)

    @pytest.mark.parametrize(
        "spec,kwargs,match",
        [
            ("flip", {}, "name=strength"),
            ("zoom=2", {}, "name"),
            ("flip=0.5,flip=0.2", {}, "once"),
            ("crop=1.5", {}, "crop"),
            ("flip=0.5", {"crop_size": (8, 8)}, "crop op"),
            ("pca_color=0.1", {}, "training images"),
            ("flip=-1", {}, "flip"),
        ],
    )
    def test_bad_specs(self, spec, kwargs, match):
        with pytest.raises(ValueError, match=match):
            Augmenter.from_spec(spec, **kwargs)

    def test_op_validates(self):
        with pytest.raises(ValueError, match="rotation"):
            Op("rotation", -5.0)


class TestAugmentedDataset:
    def _epochs(self, dataset, count=2):
        return [np.concatenate([x for x, _ in dataset.as_numpy_iterator()]) for _ in range(count)]

    def test_two_epochs_differ_and_the_same_seed_reproduces_them(self):
        source = _source()
        augmenter = Augmenter.from_spec("flip=0.5,crop=2,color_shift=10")
        first = self._epochs(to_dataset(source, 16, shuffle=True, seed=7, augment=augmenter))
        again = self._epochs(to_dataset(source, 16, shuffle=True, seed=7, augment=augmenter))
        other = self._epochs(to_dataset(source, 16, shuffle=True, seed=8, augment=augmenter), 1)
        assert not np.allclose(first[0], first[1])
        np.testing.assert_array_equal(first[0], again[0])
        np.testing.assert_array_equal(first[1], again[1])
        assert not np.allclose(first[0], other[0])

    def test_augmentation_after_cache_without_shuffle_still_changes_per_epoch(self):
        source = _source()
        augmenter = Augmenter.from_spec("color_shift=10")
        epoch1, epoch2 = self._epochs(to_dataset(source, 16, augment=augmenter))
        labels = np.concatenate([y for _, y in to_dataset(source, 16).as_numpy_iterator()])
        np.testing.assert_array_equal(labels, source.labels)  # order kept
        assert not np.allclose(epoch1, epoch2)

    def test_plain_callable_still_works(self):
        source = _source()
        (images,) = self._epochs(to_dataset(source, 64, augment=lambda x: x + 1.0), 1)
        np.testing.assert_array_equal(images, source.images.astype(np.float32) + 1.0)

    def test_augmenter_inside_a_plain_callable(self):
        # tf.data converts the callable with autograph, and with it the Augmenter's __call__.
        source = _source()
        augmenter = Augmenter.from_spec("crop=0,flip=0.5", crop_size=(10, 10))
        (images,) = self._epochs(to_dataset(source, 64, augment=lambda x: augmenter(x, [1, 2])), 1)
        np.testing.assert_array_equal(images, augmenter(source.images, [1, 2]).numpy())

    def test_augmented_copy_on_disk_round_trips_and_is_reproducible(self, tmp_path):
        source = _source()
        augmenter = Augmenter.from_spec("flip=0.5,crop=2")
        path = write_augmented(source, augmenter, tmp_path / "aug.npz", copies=2, seed=3, batch_size=16)
        again = read_augmented(
            write_augmented(source, augmenter, tmp_path / "again.npz", copies=2, seed=3, batch_size=16)
        )
        loaded = read_augmented(path)
        assert len(loaded) == 2 * len(source) and loaded.class_names == source.class_names
        np.testing.assert_array_equal(loaded.images, again.images)
        np.testing.assert_array_equal(loaded.labels, np.concatenate([source.labels] * 2))
        assert loaded.ids[0] == "toy/0#aug0" and loaded.ids[-1] == f"toy/{len(source) - 1}#aug1"
        assert not np.array_equal(loaded.images[: len(source)], loaded.images[len(source) :])
        with pytest.raises(ValueError, match="copies"):
            write_augmented(source, augmenter, tmp_path / "x.npz", copies=0)
