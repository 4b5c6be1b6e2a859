"""kerasdl.nn.schedules against their closed-form formulas, the lecture's table and serialization."""

import math

import keras
import numpy as np
import pytest

from kerasdl.nn import recipes, schedules
from tests.backends.gaps import keras_optimizer_not_allowlisted
from tests.saving import reload

STEPS = [0, 1, 9, 10, 11, 99, 100, 101, 555, 1234, 10_000]


def epoch_of(step, steps_per_epoch):
    return step // steps_per_epoch + 1


def one_cycle(step, peak, total, warmup, start, final):
    if step < warmup:
        return peak * (start + (1 - start) * step / warmup)
    progress = min(1.0, (step - warmup) / (total - warmup))
    return peak * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress)))


CASES = [  # schedule, closed form of (step)
    (
        schedules.InverseTimeDecay(0.2, decay_rate=1.0, steps_per_epoch=10),
        lambda s: 0.2 / (1 + 1.0 * epoch_of(s, 10)),
    ),
    (schedules.ExponentialDecay(0.1, base=0.95, steps_per_epoch=10), lambda s: 0.95 ** epoch_of(s, 10) * 0.1),
    (
        schedules.InverseSqrtDecay(0.1, k=0.5, steps_per_epoch=10),
        lambda s: 0.5 / math.sqrt(epoch_of(s, 10)) * 0.1,
    ),
    (schedules.InverseSqrtDecay(0.1, k=0.5, steps_per_epoch=1), lambda s: 0.5 / math.sqrt(s + 1) * 0.1),
    (
        schedules.StaircaseDecay(0.1, drop=0.5, epochs_per_drop=3, steps_per_epoch=10),
        lambda s: 0.1 * 0.5 ** ((epoch_of(s, 10) - 1) // 3),
    ),
    (
        schedules.ManualDecay(boundaries=[3, 20], rates=[0.1, 0.03, 0.001], steps_per_epoch=10),
        lambda s: 0.1 if epoch_of(s, 10) < 3 else 0.03 if epoch_of(s, 10) < 20 else 0.001,
    ),
    (schedules.OneCycle(0.01, 1000, warmup_steps=0), lambda s: one_cycle(s, 0.01, 1000, 0, 0.1, 0.01)),
    (
        schedules.OneCycle(0.01, 1000, warmup_steps=100, start_fraction=0.2, final_fraction=0.05),
        lambda s: one_cycle(s, 0.01, 1000, 100, 0.2, 0.05),
    ),
]
IDS = [
    "inverse_time",
    "exponential",
    "inverse_sqrt_epoch",
    "inverse_sqrt_t",
    "staircase",
    "manual",
    "one_cycle",
    "one_cycle_warmup",
]


class TestSchedules:
    @pytest.mark.parametrize("schedule, formula", CASES, ids=IDS)
    def test_matches_the_closed_form(self, schedule, formula):
        for step in STEPS:
            assert float(schedule(step)) == pytest.approx(formula(step), rel=1e-6), f"step {step}"

    def test_the_lecture_worked_example(self):
        # alpha0 = 0.2, decay_rate = 1: epochs 1, 2, 3, 4 use 0.1, 0.067, 0.05, 0.04.
        schedule = schedules.InverseTimeDecay(0.2, decay_rate=1.0, steps_per_epoch=100)
        rates = [float(schedule(100 * (epoch - 1) + 50)) for epoch in (1, 2, 3, 4)]
        np.testing.assert_allclose(rates, [0.1, 0.0667, 0.05, 0.04], atol=5e-5)

    def test_constant_within_an_epoch(self):
        schedule = schedules.ExponentialDecay(1.0, steps_per_epoch=7)
        rates = np.array([float(schedule(step)) for step in range(21)]).reshape(3, 7)
        assert np.all(rates == rates[:, :1]) and rates[0, 0] > rates[1, 0] > rates[2, 0]

    @pytest.mark.parametrize("schedule, formula", CASES, ids=IDS)
    def test_config_round_trip(self, schedule, formula):
        restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
        assert type(restored) is type(schedule) and restored.get_config() == schedule.get_config()
        for step in STEPS:
            assert float(restored(step)) == float(schedule(step))

    @keras_optimizer_not_allowlisted
    @pytest.mark.parametrize("schedule, formula", CASES, ids=IDS)
    def test_keras_file_round_trip_inside_a_model(self, schedule, formula, tmp_path):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mse")
        model.fit(np.ones((24, 2), "float32"), np.zeros((24, 1), "float32"), batch_size=2, verbose=0)
        loaded = reload(model, tmp_path)
        restored = keras.optimizers.schedules.deserialize(loaded.optimizer.get_config()["learning_rate"])
        assert type(restored) is type(schedule) and restored.get_config() == schedule.get_config()
        assert float(loaded.optimizer.learning_rate) == pytest.approx(formula(12), rel=1e-6)

    @keras_optimizer_not_allowlisted
    def test_drives_the_optimizer_and_resumes_from_its_step(self, tmp_path):
        schedule = schedules.StaircaseDecay(0.1, drop=0.5, epochs_per_drop=1, steps_per_epoch=4)
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mse")
        x, y = np.ones((16, 2), "float32"), np.zeros((16, 1), "float32")
        model.fit(x, y, batch_size=4, epochs=2, verbose=0)  # 8 steps: the next step is in epoch 3
        assert float(model.optimizer.learning_rate) == pytest.approx(0.1 * 0.5**2)
        loaded = reload(model, tmp_path)
        assert int(loaded.optimizer.iterations) == 8
        assert float(loaded.optimizer.learning_rate) == pytest.approx(0.1 * 0.5**2)

    def test_one_cycle_peaks_after_the_warmup_and_ends_at_its_floor(self):
        schedule = schedules.OneCycle(0.01, 100, warmup_steps=10, start_fraction=0.1, final_fraction=0.01)
        assert float(schedule(0)) == pytest.approx(0.001)
        assert float(schedule(10)) == pytest.approx(0.01)
        assert float(schedule(100)) == pytest.approx(1e-4) and float(schedule(150)) == pytest.approx(1e-4)

    def test_one_cycle_keeps_its_registered_name(self):
        # `.keras` files saved when OneCycle lived in kerasdl.nn.recipes refer to it by this name.
        assert keras.saving.get_registered_name(schedules.OneCycle) == "kerasdl>OneCycle"
        assert recipes.OneCycle is schedules.OneCycle

    @pytest.mark.parametrize(
        "make, message",
        [
            (lambda: schedules.InverseTimeDecay(0.0), "initial_learning_rate must be a positive number"),
            (
                lambda: schedules.InverseTimeDecay(0.1, steps_per_epoch=0),
                "steps_per_epoch must be a positive",
            ),
            (
                lambda: schedules.InverseTimeDecay(0.1, steps_per_epoch=2.5),
                "steps_per_epoch must be a positive",
            ),
            (
                lambda: schedules.InverseTimeDecay(0.1, decay_rate=-1),
                "decay_rate must be a non-negative number",
            ),
            (lambda: schedules.ExponentialDecay(0.1, base=1.5), "base must be a number in \\(0, 1\\]"),
            (lambda: schedules.InverseSqrtDecay(0.1, k=0), "k must be a positive number"),
            (lambda: schedules.StaircaseDecay(0.1, drop=0), "drop must be a number in \\(0, 1\\]"),
            (lambda: schedules.StaircaseDecay(0.1, epochs_per_drop=0), "epochs_per_drop must be a positive"),
            (lambda: schedules.ManualDecay([3], [0.1]), "rates must have one entry more than boundaries"),
            (lambda: schedules.ManualDecay([5, 3], [0.1, 0.01, 0.001]), "boundaries must be increasing"),
            (lambda: schedules.ManualDecay([1], [0.1, 0.01]), "boundaries must be increasing integers >= 2"),
            (lambda: schedules.ManualDecay([3], [0.1, -0.01]), "rates must be a positive number"),
            (lambda: schedules.OneCycle(0, 10), "peak must be > 0"),
            (lambda: schedules.OneCycle(1e-3, 0), "total_steps must be a positive integer"),
            (lambda: schedules.OneCycle(1e-3, 10, warmup_steps=10), "warmup_steps must be in"),
            (lambda: schedules.OneCycle(1e-3, 10, final_fraction=2), "final_fraction must be in"),
        ],
    )
    def test_bad_arguments(self, make, message):
        with pytest.raises(ValueError, match=message + ".*Received"):
            make()
