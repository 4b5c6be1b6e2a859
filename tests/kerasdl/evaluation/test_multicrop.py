"""Tests for kerasdl.evaluation.multicrop: crop geometry on known pixels, the one-pass wrapper."""

import keras
import numpy as np
import pytest

from kerasdl.diagnostics import mcnemar_p_value
from kerasdl.evaluation.multicrop import MultiCropClassifier, crop_layout, evaluate_multicrop, extract_crops


def _known_pixels(batch=2, height=8, width=10, channels=2):
    """Pixel value = 1000 * b + 100 * channel + 10 * row + col: every pixel says where it is."""
    b, r, c, ch = np.meshgrid(
        np.arange(batch), np.arange(height), np.arange(width), np.arange(channels), indexing="ij"
    )
    return (1000 * b + 100 * ch + 10 * r + c).astype(np.float32)


def _classifier(crop=(6, 6), channels=2, classes=4, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((*crop, channels)),
            keras.layers.Conv2D(3, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(classes, activation="softmax"),
        ]
    )


class TestCropGeometry:
    def test_ten_crops_are_where_they_should_be(self):
        images = _known_pixels()
        layout = crop_layout((8, 10), (6, 7), "10")
        crops = extract_crops(images, layout).numpy()
        assert crops.shape == (2, 10, 6, 7, 2)
        # Top-left corner pixel (row, col) of each crop and whether it is mirrored, by hand:
        # corners at rows {0, 2} and cols {0, 3}; centre at row 1, col 1; then the same mirrored.
        expected = [(0, 0), (0, 3), (2, 0), (2, 3), (1, 1)] * 2
        assert layout.names[:5] == ("top-left", "top-right", "bottom-left", "bottom-right", "centre")
        assert layout.names[5] == "top-left (mirrored)" and layout.mirrored == (False,) * 5 + (True,) * 5
        for b in range(2):
            for n, (top, left) in enumerate(expected):
                window = images[b, top : top + 6, left : left + 7]
                if n >= 5:
                    window = window[:, ::-1]
                np.testing.assert_array_equal(crops[b, n], window)
        # Spot values: the bottom-right crop of image 1, channel 1, starts at pixel (2, 3).
        assert crops[1, 3, 0, 0, 1] == 1000 + 100 + 23
        # The mirrored top-left crop starts with pixel (0, 6) and ends with (0, 0).
        assert crops[0, 5, 0, 0, 0] == 6 and crops[0, 5, 0, -1, 0] == 0

    def test_other_layouts(self):
        assert crop_layout((28, 28), (24, 24), "1").tops == (2,)
        two = crop_layout((28, 28), (24, 24), "2")
        assert len(two) == 2 and two.mirrored == (False, True)
        assert len(crop_layout((28, 28), (24, 24), "5")) == 5
        grid = crop_layout((28, 28), (24, 24), "grid3")
        assert len(grid) == 9 and sorted(set(grid.tops)) == [0, 2, 4]
        assert len(crop_layout((28, 28), (24, 24), "grid2+mirror")) == 8
        same = crop_layout((6, 6), (6, 6), "10")
        crops = extract_crops(_known_pixels(1, 6, 6, 1), same).numpy()
        np.testing.assert_array_equal(crops[0, 0], crops[0, 4])  # every unmirrored crop is the whole image

    @pytest.mark.parametrize(
        "image_size,crop_size,layout,match",
        [
            ((28, 28), (30, 24), "10", "fit"),
            ((28, 28), (24, 24), "7", "layout"),
            ((28, 28), (24, 24), "grid1", "layout"),
            ((28, 28), (0, 24), "10", "crop_size"),
            ((28,), (24, 24), "10", "image_size"),
        ],
    )
    def test_bad_layouts(self, image_size, crop_size, layout, match):
        with pytest.raises(ValueError, match=match):
            crop_layout(image_size, crop_size, layout)

    def test_wrong_image_size(self):
        with pytest.raises(ValueError, match="images must be"):
            extract_crops(np.zeros((1, 9, 9, 1), np.float32), crop_layout((8, 8), (6, 6)))


class TestMultiCropClassifier:
    @pytest.mark.parametrize("aggregate", ["mean", "max"])
    def test_equals_aggregating_per_crop_predictions_computed_one_by_one(self, aggregate):
        classifier = _classifier()
        images = np.random.default_rng(0).normal(size=(5, 8, 8, 2)).astype(np.float32)
        wrapper = MultiCropClassifier(classifier, (8, 8), (6, 6), "10", aggregate=aggregate)
        layout = wrapper.layout
        one_by_one = []
        for top, left, mirrored in zip(layout.tops, layout.lefts, layout.mirrored, strict=True):
            crop = images[:, top : top + 6, left : left + 6]
            if mirrored:
                crop = crop[:, :, ::-1]
            one_by_one.append(classifier.predict(crop, verbose=0))
        stacked = np.stack(one_by_one, axis=1)
        expected = stacked.mean(axis=1) if aggregate == "mean" else stacked.max(axis=1)
        np.testing.assert_allclose(wrapper.predict(images, verbose=0), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(wrapper.per_crop(images).numpy(), stacked, rtol=1e-5, atol=1e-6)

    def test_one_forward_pass_over_all_crops(self):
        calls = []

        class Recorder(keras.Model):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def call(self, x, training=False):
                calls.append(tuple(x.shape))
                return self.inner(x)

        wrapper = MultiCropClassifier(Recorder(_classifier()), (8, 8), (6, 6), "10")
        wrapper(np.zeros((3, 8, 8, 2), np.float32))  # the first call also builds the model
        calls.clear()
        wrapper(np.zeros((3, 8, 8, 2), np.float32))
        assert calls == [(30, 6, 6, 2)]

    def test_from_logits_averages_probabilities(self):
        classifier = _classifier()
        logits = keras.Model(
            classifier.inputs, classifier.layers[-1].output
        )  # softmax inside: outputs are probs
        images = np.random.default_rng(1).normal(size=(3, 8, 8, 2)).astype(np.float32)
        as_probs = MultiCropClassifier(logits, (8, 8), (6, 6), "5").predict(images, verbose=0)
        relogit = keras.Sequential(
            [keras.Input((6, 6, 2)), classifier, keras.layers.Lambda(lambda p: keras.ops.log(p))]
        )
        via_logits = MultiCropClassifier(relogit, (8, 8), (6, 6), "5", from_logits=True).predict(
            images, verbose=0
        )
        np.testing.assert_allclose(via_logits, as_probs, rtol=1e-4, atol=1e-6)

    def test_serialization_round_trip(self, tmp_path):
        wrapper = MultiCropClassifier(_classifier(), (8, 8), (6, 6), "grid2+mirror", aggregate="max")
        images = np.random.default_rng(2).normal(size=(2, 8, 8, 2)).astype(np.float32)
        expected = wrapper.predict(images, verbose=0)
        wrapper.save(tmp_path / "tta.keras")
        loaded = keras.saving.load_model(tmp_path / "tta.keras")
        np.testing.assert_allclose(loaded.predict(images, verbose=0), expected, rtol=1e-6)
        assert loaded.layout.name == "grid2+mirror" and loaded.aggregate == "max"

    def test_bad_aggregate(self):
        with pytest.raises(ValueError, match="aggregate"):
            MultiCropClassifier(_classifier(), (8, 8), (6, 6), aggregate="median")


class TestEvaluateMulticrop:
    def test_report_counts_flips_against_a_numpy_recount(self):
        classifier = _classifier(classes=3)
        rng = np.random.default_rng(3)
        images = rng.normal(size=(64, 8, 8, 2)).astype(np.float32)
        labels = rng.integers(0, 3, size=64)
        # Three timing blocks: the predictions, made block by block, must still be the whole set's.
        report = evaluate_multicrop(classifier, images, labels, (6, 6), "10", batch_size=40, timing_blocks=3)
        centre = classifier.predict(images[:, 1:7, 1:7], verbose=0).argmax(-1) == labels
        multi = (
            MultiCropClassifier(classifier, (8, 8), (6, 6), "10").predict(images, verbose=0).argmax(-1)
            == labels
        )
        assert report.crops == 10 and report.examples == 64
        assert report.single_accuracy == pytest.approx(centre.mean())
        assert report.multi_accuracy == pytest.approx(multi.mean())
        assert report.gain == pytest.approx(multi.mean() - centre.mean())
        assert report.right_to_wrong == int(np.sum(centre & ~multi))
        assert report.wrong_to_right == int(np.sum(~centre & multi))
        assert report.p_value == pytest.approx(mcnemar_p_value(centre, multi))
        assert report.single_seconds > 0 and report.multi_seconds > 0 and report.time_ratio > 0
        with pytest.raises(ValueError, match="match"):
            evaluate_multicrop(classifier, images, labels[:3], (6, 6))
        with pytest.raises(ValueError, match="timing_blocks"):
            evaluate_multicrop(classifier, images, labels, (6, 6), timing_blocks=0)
