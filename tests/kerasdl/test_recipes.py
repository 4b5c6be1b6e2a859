"""kerasdl.recipes: the one-cycle schedule's closed form and the recipe's pieces."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from kerasdl.recipes import FastRecipe, OneCycle, build_fast_recipe, fast_cnn


def _reference(step, peak, total, warmup, start, final):
    if step < warmup:
        return peak * (start + (1 - start) * step / warmup)
    progress = min(1.0, (step - warmup) / (total - warmup))
    return peak * (final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress)))


@pytest.mark.parametrize("warmup", [0, 10])
def test_one_cycle_closed_form(warmup):
    schedule = OneCycle(0.01, 100, warmup_steps=warmup, start_fraction=0.1, final_fraction=0.01)
    for step in (0, 1, 5, 9, 10, 11, 50, 99, 100, 150):
        assert float(schedule(step)) == pytest.approx(
            _reference(step, 0.01, 100, warmup, 0.1, 0.01), rel=1e-5
        )
    assert float(schedule(warmup)) == pytest.approx(0.01)  # the peak
    assert float(schedule(100)) == pytest.approx(1e-4)  # the floor
    restored = OneCycle.from_config(schedule.get_config())
    assert float(restored(37)) == pytest.approx(float(schedule(37)))


@pytest.mark.parametrize("kwargs,match", [
    (dict(peak=0, total_steps=10), "peak=0"),
    (dict(peak=1e-3, total_steps=0), "total_steps=0"),
    (dict(peak=1e-3, total_steps=10, warmup_steps=10), "warmup_steps=10"),
    (dict(peak=1e-3, total_steps=10, final_fraction=2), "final_fraction=2"),
])  # fmt: skip
def test_one_cycle_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        OneCycle(**kwargs)


def test_build_fast_recipe():
    recipe = FastRecipe(filters=(4, 8), hidden_units=16, epochs=2, batch_size=100, jit_compile=False)
    model, optimizer, schedule, batch_size = build_fast_recipe(recipe, train_size=1000)
    assert batch_size == 100 and schedule.total_steps == 20 and schedule.warmup_steps == 2
    assert optimizer.learning_rate is not None and model.output_shape == (None, 10)
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) == 3
    x = np.random.default_rng(0).normal(size=(200, 28, 28, 1)).astype("float32")
    history = model.fit(x, np.arange(200) % 10, batch_size=batch_size, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert int(optimizer.iterations) == 2
    assert fast_cnn((4,), batch_norm=False).count_params() == 4 * 9 + 4 + 28 * 28 * 4 * 10 + 10
    assert FastRecipe(flip=True).augmenter_spec == "flip=0.5" and FastRecipe().augmenter_spec == "none"
    with pytest.raises(ValueError, match="batch_size=0"):
        FastRecipe(batch_size=0)
