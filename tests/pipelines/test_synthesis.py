import numpy as np
import pytest
import tensorflow as tf
from scipy import ndimage

from pipelines import image_ops
from pipelines.hashing import identity_hashes, per_example_uniform
from pipelines.sources import ImageSource
from pipelines.synthesis import PhoneCamera, degrade, phone_camera


def make_source(n=64, size=16, channels=1):
    rng = np.random.default_rng(0)
    images = np.zeros((n, size, size, channels), np.uint8)
    images[:, 4:12, 4:12] = rng.integers(150, 256, (n, 8, 8, channels))
    return ImageSource("toy", images, np.zeros(n, np.int64), np.array([f"toy/{i}" for i in range(n)]), ("c",))


class TestImageOps:
    def test_gaussian_blur_matches_scipy_per_image_sigma(self):
        images = np.random.default_rng(0).uniform(0, 255, (3, 12, 10, 2)).astype(np.float32)
        sigmas = np.array([0.0, 0.8, 1.5], np.float32)
        out = image_ops.gaussian_blur(images, sigmas).numpy()
        np.testing.assert_allclose(out[0], images[0], atol=1e-3)
        for i in (1, 2):
            # Away from the border, the row-renormalized kernel equals a plain Gaussian filter.
            expected = ndimage.gaussian_filter(images[i], sigma=(sigmas[i], sigmas[i], 0), truncate=8.0)
            np.testing.assert_allclose(out[i, 5:-5, 5:-5], expected[5:-5, 5:-5], rtol=1e-3, atol=1e-2)

    def test_rotation_by_90_degrees_is_exact(self):
        image = np.arange(25, dtype=np.float32).reshape(1, 5, 5, 1)
        rotated = image_ops.rotate_and_shift(image, 90.0, 0.0, 0.0).numpy()
        np.testing.assert_allclose(rotated[0, ..., 0], np.rot90(image[0, ..., 0]), atol=1e-4)

    def test_shift_moves_pixels(self):
        image = np.zeros((1, 6, 6, 1), np.float32)
        image[0, 2, 2] = 1
        shifted = image_ops.rotate_and_shift(image, 0.0, 1.0, 2.0, fill_mode="CONSTANT").numpy()
        assert shifted[0, 3, 4, 0] == pytest.approx(1.0) and shifted.sum() == pytest.approx(1.0)

    def test_contrast_and_exposure(self):
        images = np.array([[[[0.0]], [[100.0]]]], np.float32)  # mean 50
        out = image_ops.adjust_contrast_exposure(images, 0.5, 0.8).numpy()
        np.testing.assert_allclose(out.ravel(), [0.8 * 25, 0.8 * 75])


class TestHashing:
    def test_per_example_streams_depend_only_on_the_hash(self):
        hashes = identity_hashes([f"i{k}" for k in range(10)])
        full = per_example_uniform(hashes, 5)
        np.testing.assert_array_equal(per_example_uniform(hashes[[7, 2]], 5), full[[7, 2]])
        assert full.min() >= 0 and full.max() < 1
        big = per_example_uniform(identity_hashes([f"j{k}" for k in range(2000)]), 50)
        assert abs(big.mean() - 0.5) < 0.01 and abs(big.var() - 1 / 12) < 0.005


class TestPhoneCamera:
    def test_strength_zero_is_identity(self):
        source = make_source()
        np.testing.assert_array_equal(phone_camera(source, 0.0).images, source.images)

    def test_degradation_grows_with_strength(self):
        source = make_source()
        distance = [
            np.abs(phone_camera(source, s).images.astype(float) - source.images).mean()
            for s in (0.25, 0.5, 1)
        ]
        assert distance[0] < distance[1] < distance[2]

    def test_each_example_depends_only_on_its_identity_and_seed(self):
        source = make_source()
        out = phone_camera(source, 0.8, chunk=7)
        order = np.random.default_rng(1).permutation(len(source))
        again = phone_camera(source.take(order), 0.8, chunk=13)
        np.testing.assert_array_equal(again.images, out.images[order])
        other_seed = phone_camera(source, 0.8, seed=1)
        assert not np.array_equal(other_seed.images, out.images)

    def test_blur_lowers_sharpness_and_contrast_drops(self):
        source = make_source(size=28)
        camera = PhoneCamera(max_rotation_degrees=0, max_shift_fraction=0, max_noise_std=0, min_exposure=1.0)
        blurred = phone_camera(source, 1.0, camera=camera).images.astype(float)
        laplacian = lambda x: ndimage.laplace(x[..., 0]).var()  # noqa: E731
        assert (
            np.mean(
                [
                    laplacian(b) < laplacian(a.astype(float))
                    for a, b in zip(source.images, blurred, strict=True)
                ]
            )
            == 1
        )
        assert blurred.std() < source.images.std()

    def test_rgb_input(self):
        source = make_source(channels=3)
        out = degrade(source.images, identity_hashes(source.ids), 0.5)
        assert out.shape == source.images.shape and out.dtype == np.uint8

    def test_bad_strength(self):
        with pytest.raises(ValueError, match="Received: strength=1.5"):
            phone_camera(make_source(), 1.5)

    def test_noise_is_gaussian_with_the_stated_std(self):
        source = make_source(n=256)
        flat = source.replace(images=np.full_like(source.images, 128))
        camera = PhoneCamera(max_rotation_degrees=0, max_shift_fraction=0, max_blur_sigma=0,
                             min_contrast=1.0, min_exposure=1.0, max_noise_std=10.0)  # fmt: skip
        residual = phone_camera(flat, 1.0, camera=camera).images.astype(float) - 128
        hashes = identity_hashes(source.ids, salt="phone_camera/0")
        expected_std = camera.parameters(hashes, 1.0, 16, 16)["noise_std"]
        ratio = residual.reshape(256, -1).std(axis=1) / expected_std
        assert abs(ratio.mean() - 1) < 0.03
        assert abs(tf.reduce_mean(residual).numpy()) < 0.1
