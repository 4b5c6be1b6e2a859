"""Tests for pipelines.pca_color against NumPy's covariance and eigendecomposition."""

import numpy as np
import pytest

from pipelines.augment import Augmenter
from pipelines.pca_color import GRAYSCALE_MESSAGE, PCAColor


def _anisotropic_rgb(n=200, seed=0):
    """RGB images whose colours vary a lot along one direction and little along the others."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    coefficients = rng.normal(size=(n, 8, 8, 3)) * np.array([40.0, 12.0, 3.0])
    pixels = 128 + coefficients @ basis.T
    return np.clip(pixels, 0, 255).astype(np.uint8)


class TestPCAColor:
    def test_fit_matches_numpy_eigendecomposition(self):
        images = _anisotropic_rgb()
        pca = PCAColor.fit(images, chunk=37)  # chunks do not change the result
        pixels = images.reshape(-1, 3).astype(np.float64) / 255.0
        values, vectors = np.linalg.eigh(np.cov(pixels, rowvar=False, bias=True))
        order = np.argsort(values)[::-1]
        np.testing.assert_allclose(pca.eigenvalues, values[order], rtol=1e-4)
        for i in range(3):  # eigenvectors are defined up to sign
            assert abs(abs(np.dot(pca.eigenvectors[:, i], vectors[:, order[i]])) - 1) < 1e-4
        np.testing.assert_allclose(pca.mean, pixels.mean(0), rtol=1e-5)

    def test_perturbation_lies_along_the_eigenvectors_with_the_given_scale(self):
        pca = PCAColor.fit(_anisotropic_rgb())
        sigma = 0.1
        images = np.full((4000, 2, 2, 3), 100.0, np.float32)
        delta = pca(images, [3, 4], sigma=sigma).numpy() - images
        assert np.allclose(delta, delta[:, :1, :1])  # one offset per image, the same at every pixel
        offsets = delta[:, 0, 0] / 255.0
        coefficients = offsets @ pca.eigenvectors  # coordinates along p1, p2, p3
        # AlexNet: offset = sum_i alpha_i lambda_i p_i with alpha_i ~ N(0, sigma).
        alphas = coefficients / pca.eigenvalues
        np.testing.assert_allclose(alphas.std(axis=0), sigma, rtol=0.06)
        np.testing.assert_allclose(alphas.mean(axis=0), 0.0, atol=0.01)
        assert np.all(np.abs(np.corrcoef(alphas, rowvar=False) - np.eye(3)) < 0.06)
        # Most of the colour change is along the first component, as the training colours are.
        spread = coefficients.std(axis=0)
        assert spread[0] > 5 * spread[1] > 5 * spread[2]

    def test_same_seed_reproduces(self):
        pca = PCAColor.fit(_anisotropic_rgb())
        images = _anisotropic_rgb(4, seed=1).astype(np.float32)
        np.testing.assert_array_equal(pca(images, [1, 1]).numpy(), pca(images, [1, 1]).numpy())
        assert not np.allclose(pca(images, [1, 1]).numpy(), pca(images, [1, 2]).numpy())

    def test_grayscale_says_why_it_does_nothing(self):
        gray = np.random.default_rng(0).integers(0, 256, (10, 4, 4, 1)).astype(np.uint8)
        with pytest.warns(UserWarning, match="does nothing on grayscale") as record:
            pca = PCAColor.fit(gray)
        assert str(record[0].message) == GRAYSCALE_MESSAGE
        assert pca.does_nothing
        np.testing.assert_array_equal(pca(gray, [0, 0]).numpy(), gray.astype(np.float32))
        with pytest.warns(UserWarning, match="grayscale"):
            augmenter = Augmenter.from_spec("pca_color=0.1", train_images=gray)
        np.testing.assert_array_equal(augmenter(gray, [0, 0]).numpy(), gray.astype(np.float32))

    def test_in_the_augmenter_on_rgb(self):
        images = _anisotropic_rgb(20)
        augmenter = Augmenter.from_spec("pca_color=0.1", train_images=images)
        out = augmenter(images, [0, 0]).numpy()
        assert out.shape == images.shape and not np.allclose(out, images)

    @pytest.mark.parametrize(
        "call,match",
        [
            (lambda pca: PCAColor.fit(np.zeros((0, 2, 2, 3), np.uint8)), "non-empty"),
            (lambda pca: pca(np.zeros((1, 2, 2, 1), np.float32), [0, 0]), "channels"),
            (lambda pca: pca.perturbation(1, [0, 0], sigma=-1.0), "sigma"),
        ],
    )
    def test_bad_arguments(self, call, match):
        pca = PCAColor.fit(_anisotropic_rgb(4))
        with pytest.raises(ValueError, match=match):
            call(pca)
