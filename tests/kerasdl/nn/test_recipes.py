"""kerasdl.nn.recipes: the recipe's pieces (OneCycle is tested with the schedules)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasdl.nn.recipes import FastRecipe, build_fast_recipe, fast_cnn, recipe_for


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


def test_recipe_for_each_target():
    assert recipe_for(0.92) == FastRecipe()
    longer = recipe_for(0.93)
    assert longer.flip and longer.epochs > FastRecipe().epochs
    with pytest.raises(ValueError, match="target=0.95"):
        recipe_for(0.95)
