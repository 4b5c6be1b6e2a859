"""kerasdl.nn.ewma against the direct formula and the lesson's facts."""

import numpy as np
import pytest

from kerasdl.nn.ewma import ExponentialMovingAverage, ewma, ewma_update


def direct(values, beta, t):
    """v_t = sum_{i=1..t} (1 - beta) beta^(t - i) theta_i, the lesson's unrolled V_100."""
    return sum((1 - beta) * beta ** (t - i) * values[i - 1] for i in range(1, t + 1))


class TestEwma:
    def setup_method(self):
        # A temperature-like series: a seasonal curve plus noise, as in the lecture's London example.
        days = np.arange(1, 181)
        self.temperatures = 10 + 8 * np.sin(days / 30) + np.random.default_rng(0).normal(0, 3, size=days.size)

    @pytest.mark.parametrize("beta", [0.5, 0.9, 0.98])
    def test_matches_the_unrolled_formula(self, beta):
        raw = ewma(self.temperatures, beta, bias_correction=False)
        corrected = ewma(self.temperatures, beta)
        for t in (1, 2, 10, 50, 180):
            np.testing.assert_allclose(raw[t - 1], direct(self.temperatures, beta, t), rtol=1e-12)
            np.testing.assert_allclose(
                corrected[t - 1], direct(self.temperatures, beta, t) / (1 - beta**t), rtol=1e-12
            )

    def test_bias_correction_removes_the_start_up_bias(self):
        constant = np.full(20, 25.0)
        np.testing.assert_allclose(ewma(constant, 0.98), 25.0, rtol=1e-12)
        raw = ewma(constant, 0.98, bias_correction=False)
        np.testing.assert_allclose(raw[0], 0.02 * 25.0)  # far too low on day 1 without correction
        assert ewma(self.temperatures, 0.9)[0] == pytest.approx(self.temperatures[0])

    def test_lesson_rules_of_thumb(self):
        # 0.9^10 ~ 0.98^50 ~ 1/e: beta averages over about 1 / (1 - beta) values.
        assert 0.9**10 == pytest.approx(np.exp(-1), abs=0.03)
        assert 0.98**50 == pytest.approx(np.exp(-1), abs=0.01)
        # The weights (1 - beta) beta^k sum to 1 - beta^t, ~1 for large t.
        impulse = np.zeros(200)
        impulse[0] = 1.0
        assert ewma(np.ones(200), 0.98, bias_correction=False)[-1] == pytest.approx(1 - 0.98**200)
        assert ewma(impulse, 0.9, bias_correction=False)[10] == pytest.approx(0.1 * 0.9**10)

    def test_smoother_with_larger_beta(self):
        roughness = [np.abs(np.diff(ewma(self.temperatures, beta))).mean() for beta in (0.5, 0.9, 0.98)]
        assert roughness[0] > roughness[1] > roughness[2]

    def test_streaming_class_matches_the_function(self):
        for correct in (True, False):
            average = ExponentialMovingAverage(beta=0.9, bias_correction=correct)
            streamed = [average.update(value) for value in self.temperatures]
            np.testing.assert_allclose(
                streamed, ewma(self.temperatures, 0.9, bias_correction=correct), rtol=1e-12
            )
            assert average.t == len(self.temperatures)

    def test_vector_values_and_update_helper(self):
        values = np.random.default_rng(1).normal(size=(7, 3))
        np.testing.assert_allclose(ewma(values, 0.8)[:, 2], ewma(values[:, 2], 0.8), rtol=1e-12)
        assert ewma_update(2.0, 4.0, 0.75) == pytest.approx(2.5)

    @pytest.mark.parametrize("beta", [1.0, -0.1, 1.5])
    def test_bad_beta(self, beta):
        with pytest.raises(ValueError, match="beta must be in \\[0, 1\\). Received: beta="):
            ewma(self.temperatures, beta)
        with pytest.raises(ValueError, match="beta must be in \\[0, 1\\). Received: beta="):
            ExponentialMovingAverage(beta)

    def test_value_before_update(self):
        with pytest.raises(ValueError, match="undefined before the first update"):
            _ = ExponentialMovingAverage().value

    def test_scalar_values_rejected(self):
        with pytest.raises(ValueError, match="values must have a time axis"):
            ewma(np.float64(3.0), 0.9)
