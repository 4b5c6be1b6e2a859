"""kerasdl.nn.initializers against the lesson's scales and Keras' VarianceScaling, HeNormal, GlorotNormal."""

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn import initializers
from kerasdl.scratch.initialization import weight_scale

CASES = [  # our class, the scratch method, Keras' exact untruncated twin (scale, mode)
    (initializers.He, "he", (2.0, "fan_in")),
    (initializers.Xavier, "xavier", (1.0, "fan_in")),
    (initializers.XavierAverage, "glorot", (1.0, "fan_avg")),
]


class TestInitializers:
    @pytest.mark.parametrize("cls, method, twin", CASES)
    def test_same_draws_as_untruncated_variance_scaling(self, cls, method, twin):
        scale, mode = twin
        for shape in [(300, 200), (3, 3, 16, 32)]:
            ours = cls(seed=11)(shape)
            theirs = keras.initializers.VarianceScaling(scale, mode, "untruncated_normal", seed=11)(shape)
            np.testing.assert_array_equal(ours, theirs)

    @pytest.mark.parametrize("cls, method, twin", CASES)
    def test_empirical_std_is_the_lesson_scale(self, cls, method, twin):
        fan_in, fan_out = 500, 400
        values = ops.convert_to_numpy(cls(seed=1)((fan_in, fan_out)))  # 200,000 draws
        expected = weight_scale(method, fan_in, fan_out)
        # The sample std of n normals has relative sd ~ 1 / sqrt(2n) = 0.0016.
        assert values.std() == pytest.approx(expected, rel=0.01)
        assert abs(values.mean()) < 5 * expected / np.sqrt(values.size)

    def test_he_has_he_normal_variance_but_untruncated_tails(self):
        shape = (500, 400)
        ours = ops.convert_to_numpy(initializers.He(seed=2)(shape))
        keras_he = ops.convert_to_numpy(keras.initializers.HeNormal(seed=2)(shape))
        sd = np.sqrt(2 / 500)
        assert ours.std() == pytest.approx(sd, rel=0.01) and keras_he.std() == pytest.approx(sd, rel=0.01)
        # Keras truncates at 2 sd of the underlying normal (sd / 0.8796): |w| <= 2.274 sd.
        assert np.abs(keras_he).max() <= 2.28 * sd
        # 200,000 untruncated normals: ~540 expected beyond 3 sd.
        assert (np.abs(ours) > 3 * sd).sum() > 300

    def test_xavier_is_not_glorot_normal(self):
        fan_in, fan_out = 100, 900
        xavier = ops.convert_to_numpy(initializers.Xavier(seed=3)((fan_in, fan_out))).std()
        average = ops.convert_to_numpy(initializers.XavierAverage(seed=3)((fan_in, fan_out))).std()
        glorot = ops.convert_to_numpy(keras.initializers.GlorotNormal(seed=3)((fan_in, fan_out))).std()
        assert xavier == pytest.approx(np.sqrt(1 / fan_in), rel=0.02)
        assert glorot == pytest.approx(np.sqrt(2 / (fan_in + fan_out)), rel=0.02)
        assert average == pytest.approx(glorot, rel=0.02)
        assert xavier > 2 * glorot

    def test_seeding(self):
        np.testing.assert_array_equal(initializers.He(seed=5)((4, 4)), initializers.He(seed=5)((4, 4)))
        assert not np.array_equal(initializers.He(seed=5)((4, 4)), initializers.He(seed=6)((4, 4)))
        keras.utils.set_random_seed(0)
        first = initializers.He()((4, 4))
        keras.utils.set_random_seed(0)
        np.testing.assert_array_equal(first, initializers.He()((4, 4)))

    @pytest.mark.parametrize("cls", [c for c, _, _ in CASES])
    def test_config_round_trip_inside_a_layer(self, cls):
        layer = keras.layers.Dense(3, kernel_initializer=cls(seed=9))
        restored = keras.layers.Dense.from_config(layer.get_config())
        assert type(restored.kernel_initializer) is cls
        assert restored.kernel_initializer.get_config() == {"seed": 9}
        restored.build((None, 4))
        layer.build((None, 4))
        np.testing.assert_array_equal(restored.kernel, layer.kernel)

    @pytest.mark.parametrize("seed", [-1, 1.5, "0"])
    def test_bad_seed(self, seed):
        with pytest.raises(ValueError, match="seed must be None or a non-negative integer. Received: seed="):
            initializers.He(seed=seed)

    def test_fans(self):
        assert initializers.fans((4, 3)) == (4, 3)
        assert initializers.fans((3, 3, 16, 32)) == (144, 288)
        assert initializers.fans((7,)) == (7, 7)
