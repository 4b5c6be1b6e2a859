"""kerasdl.nn.recipes: the recipe's pieces (OneCycle is tested with the schedules)."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

from kerasdl.nn.recipes import (
    TUNED_FOR_TARGET,
    FastRecipe,
    build_fast_recipe,
    fast_cnn,
    predict_logits,
    recipe_for,
)


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
    assert FastRecipe(crop=2, flip=True).augmenter_spec == "crop=2,flip=0.5"
    bads = (
        {"batch_size": 0}, {"steps_per_execution": 0}, {"crop": -1}, {"stem_stride": 3},
        {"label_smoothing": 1.0}, {"stages_without_batch_norm": 4}, {"dtype_policy": "mixed_float16"},
    )  # fmt: skip
    for bad in bads:
        ((name, value),) = bad.items()
        with pytest.raises(ValueError, match=re.escape(f"{name}={value!r}")):
            FastRecipe(**bad)


def test_stem_stride_and_label_smoothing_reach_the_model():
    strided = fast_cnn((4,), batch_norm=False, stem_stride=2)
    assert strided.get_layer("conv1").output.shape[1:3] == (14, 14)
    assert strided.count_params() == 4 * 9 + 4 + 14 * 14 * 4 * 10 + 10
    model, *_ = build_fast_recipe(FastRecipe(filters=(4,), hidden_units=0, label_smoothing=0.1), 100)
    assert model.loss.label_smoothing == 0.1 and model.loss.from_logits


def test_steps_per_execution_trains_the_same_steps():
    """Several steps per call of the compiled function: the same updates, so the same weights (Keras'
    PyTorch trainer takes one step per call: there the recipe asks for 1)."""
    x = np.random.default_rng(2).normal(size=(240, 28, 28, 1)).astype("float32")
    y = np.arange(240) % 10
    weights = []
    for steps in (1, 4):
        keras.utils.set_random_seed(3)
        recipe = FastRecipe(filters=(4,), hidden_units=8, epochs=2, batch_size=40, steps_per_execution=steps)
        model, optimizer, _, batch_size = build_fast_recipe(recipe, train_size=len(x))
        assert model.steps_per_execution == (1 if keras.backend.backend() == "torch" else steps)
        model.fit(x, y, batch_size=batch_size, epochs=recipe.epochs, shuffle=False, verbose=0)
        assert int(optimizer.iterations) == 12
        weights.append([keras.ops.convert_to_numpy(w) for w in model.weights])
    for one_step, four_steps in zip(*weights, strict=True):
        np.testing.assert_allclose(four_steps, one_step, rtol=1e-4, atol=1e-5)


def test_predict_logits_averages_each_image_with_its_mirror():
    model = fast_cnn((4,), batch_norm=False)
    x = np.random.default_rng(1).normal(size=(5, 28, 28, 1)).astype("float32")
    plain = keras.ops.convert_to_numpy(model(x))
    mirror = np.ascontiguousarray(np.flip(x, axis=2))  # the oracle: NumPy's own flip
    mirrored = keras.ops.convert_to_numpy(model(mirror))
    np.testing.assert_allclose(predict_logits(model, x), plain, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        predict_logits(model, x, flip_tta=True), (plain + mirrored) / 2, rtol=1e-5, atol=1e-6
    )
    assert not np.allclose(plain, mirrored)  # the images are not symmetric: the average is not a no-op


def test_recipe_for_each_target():
    for target, recipe in TUNED_FOR_TARGET.items():
        assert recipe_for(target) is recipe
    with pytest.raises(ValueError, match="target=0.95"):
        recipe_for(0.95)


def test_stages_without_batch_norm_skip_the_first_stages_only():
    model = fast_cnn((4, 8, 8), hidden_units=16, stages_without_batch_norm=2)
    normalized = {layer.name for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)}
    assert normalized == {"bn3", "bn_hidden"}
    assert [model.get_layer(f"conv{k}").use_bias for k in (1, 2, 3)] == [True, True, False]
    recipe = FastRecipe(filters=(4, 8), hidden_units=8, stages_without_batch_norm=1)
    model, *_ = build_fast_recipe(recipe, train_size=100)
    assert [layer.name for layer in model.layers if "bn" in layer.name] == ["bn2", "bn_hidden"]


def test_mixed_bfloat16_computes_in_bfloat16_keeps_float32_weights_and_logits():
    """The oracle is the float32 network with the same weights: bfloat16 keeps 8 bits of mantissa, so the
    logits agree to within 3% of the largest, and the float32 logits layer hands the loss float32."""
    recipe = FastRecipe(filters=(4, 8), hidden_units=16, batch_norm=False, dtype_policy="mixed_bfloat16")
    model, *_ = build_fast_recipe(recipe, train_size=100)
    assert model.get_layer("conv1").compute_dtype == "bfloat16"
    assert model.get_layer("hidden").compute_dtype == "bfloat16"
    assert {w.dtype for w in model.weights} == {"float32"}
    reference = fast_cnn((4, 8), batch_norm=False, hidden_units=16, dtype_policy="float32")
    reference.set_weights(model.get_weights())
    x = np.random.default_rng(4).normal(size=(64, 28, 28, 1)).astype("float32")
    mixed, exact = model(x), keras.ops.convert_to_numpy(reference(x))
    assert keras.backend.standardize_dtype(mixed.dtype) == "float32"
    mixed = keras.ops.convert_to_numpy(mixed)
    assert not np.array_equal(mixed, exact)  # it did round
    np.testing.assert_allclose(mixed, exact, atol=0.03 * np.abs(exact).max())
    history = model.fit(x, np.arange(64) % 10, batch_size=32, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert {w.dtype for w in model.weights} == {"float32"}
