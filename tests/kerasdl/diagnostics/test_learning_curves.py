"""kerasdl.diagnostics.learning_curves: the fall over the last doubling, the advice it gives, the chart."""

import math

import numpy as np
import pytest

from kerasdl.diagnostics.learning_curves import (
    DEV_COLOUR,
    TRAIN_COLOUR,
    LearningCurve,
    learning_curve_image,
)

SIZES = (1000, 2000, 4000, 8000)
# More data helps: dev error still falls 4 points per doubling, far above the 1-point threshold.
STILL_FALLING = LearningCurve(SIZES, (0.05, 0.08, 0.10, 0.11), (0.30, 0.25, 0.21, 0.17), dev_examples=2000)
# More data does not help: dev error has flattened where training error meets it (high bias).
FLAT_AT_BIAS = LearningCurve(SIZES, (0.15, 0.18, 0.19, 0.195), (0.30, 0.22, 0.201, 0.199))
# Flat too, but with a wide gap left: data is not what closes it.
FLAT_WITH_GAP = LearningCurve(SIZES, (0.02, 0.05, 0.08, 0.11), (0.30, 0.22, 0.201, 0.205))


def test_a_curve_that_still_falls_says_more_data_will_help():
    assert STILL_FALLING.fall_per_doubling() == pytest.approx(0.21 - 0.17)
    assert STILL_FALLING.more_data_helps()
    advice = STILL_FALLING.advice(focus="variance")
    assert advice.startswith("More data will help: dev error fell 4.0 points over the last doubling")
    assert "(4,000 -> 8,000 examples)" in advice
    assert "from 17.0% to about 13.0%" in advice  # the same fall once more
    se = math.sqrt(0.17 * 0.83 / 2000)  # binomial standard error of the last dev error
    assert STILL_FALLING.dev_standard_error() == pytest.approx(se)
    assert f"one standard error is {100 * se:.1f} points" in advice
    assert "the curve supports getting more training data" in advice


def test_a_flat_curve_says_more_data_will_not_help_and_why():
    assert FLAT_AT_BIAS.fall_per_doubling() == pytest.approx(0.002)
    assert not FLAT_AT_BIAS.more_data_helps()
    advice = FLAT_AT_BIAS.advice(focus="variance")
    assert advice.startswith(
        "More data will not help much: dev error fell only 0.2 points over the last doubling"
    )
    assert "Training and dev error have met (19.5% and 19.9%)" in advice and "bias" in advice
    assert "try regularization before collecting more data" in advice

    assert FLAT_WITH_GAP.fall_per_doubling() == pytest.approx(-0.004)
    advice = FLAT_WITH_GAP.advice()
    assert "dev error did not fall (it rose 0.4 points)" in advice
    assert "The 9.5-point gap between training and dev error" in advice and "regularize" in advice


def test_the_threshold_decides_and_sizes_that_are_not_a_doubling_are_scaled_to_one():
    assert not STILL_FALLING.more_data_helps(min_gain=0.05)
    assert "will not help much" in STILL_FALLING.advice(min_gain=0.05)
    tripled = LearningCurve((1000, 3000), (0.1, 0.12), (0.3, 0.25))
    assert tripled.fall_per_doubling() == pytest.approx(0.05 / np.log2(3))
    record = tripled.as_dict()
    assert record["sizes"] == [1000, 3000] and record["more_data_helps"] is True
    assert record["fall_per_doubling"] == pytest.approx(0.05 / np.log2(3))


@pytest.mark.parametrize(
    "arguments, message",
    [
        (((1000,), (0.1,), (0.2,)), "at least two increasing positive counts"),
        (((2000, 1000), (0.1, 0.1), (0.2, 0.2)), "at least two increasing positive counts"),
        (((1000, 2000), (0.1,), (0.2, 0.2)), "one entry per size"),
        (((1000, 2000), (0.1, 1.5), (0.2, 0.2)), "Received: train_error=\\[0.1, 1.5\\]"),
    ],
)
def test_bad_curves_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        LearningCurve(*arguments)


def test_bad_threshold_is_refused():
    with pytest.raises(ValueError, match="Received: min_gain=1.5"):
        STILL_FALLING.more_data_helps(min_gain=1.5)


def _columns_and_rows(image, colour):
    ys, xs = np.nonzero(np.all(image == np.array(colour, np.uint8), axis=-1))
    return xs, ys


def test_the_chart_draws_both_curves_left_to_right_with_dev_above_training():
    image = learning_curve_image(STILL_FALLING, width=560, height=360)
    assert image.shape == (360, 560, 3) and image.dtype == np.uint8
    train_x, train_y = _columns_and_rows(image, TRAIN_COLOUR)
    dev_x, dev_y = _columns_and_rows(image, DEV_COLOUR)
    assert len(train_x) and len(dev_x)
    # The curves span the plot from the smallest to the largest size (a log axis from edge to edge).
    assert dev_x.min() < 80 and dev_x.max() > 480
    # Falling dev error: higher on the left (smaller y is higher); rising training error: the opposite.
    plot = dev_x < 500  # the legend's sample lines sit at the top right
    left, right = dev_x[plot] < 100, dev_x[plot] > 440
    assert dev_y[plot][left].mean() < dev_y[plot][right].mean()
    plot = train_x < 500
    left, right = train_x[plot] < 100, train_x[plot] > 440
    assert train_y[plot][left].mean() > train_y[plot][right].mean()
    assert dev_y[dev_x < 500].mean() < train_y[train_x < 500].mean()  # dev error is above training error


def test_the_table_shows_each_size_with_its_epochs():
    curve = LearningCurve((1000, 2000), (0.05, 0.08), (0.30, 0.25), epochs=(4, 2))
    assert curve.to_markdown().splitlines()[2:] == [
        "| 1,000 | 4 | 5.0% | 30.0% |",
        "| 2,000 | 2 | 8.0% | 25.0% |",
    ]
    assert curve.as_dict()["epochs"] == [4, 2]
    with pytest.raises(ValueError, match="epochs needs one entry per size"):
        LearningCurve((1000, 2000), (0.05, 0.08), (0.30, 0.25), epochs=(4,))
