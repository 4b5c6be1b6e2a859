"""Fast training recipes for Fashion-MNIST on a CPU, built from the lessons' levers.

Course 2 and Course 4 give the levers; this module turns them into one
configuration (`FastRecipe`) and one function (`build_fast_recipe`) that
returns the compiled model, its optimizer and schedule, and the batch size:

- Batch norm (Course 2, Week 3) lets a higher learning rate train stably,
  but on a 2-core CPU its passes over the activations cost a third to a
  half of a small network's step in float32, and more in bfloat16: where
  the time is short, the same seconds can buy more epochs without it
  (`batch_norm=False`), or without it in the first stages only, whose
  activations are the largest (`stages_without_batch_norm`).
- Mixed precision (`dtype_policy="mixed_bfloat16"`): the layers compute in
  bfloat16 and keep float32 weights. On a CPU with bfloat16 matrix units
  (Intel AMX) the convolutions and matrix products run on them; batch norm
  computes its statistics in float32 and gains little.
  `benchmarks/mixed_precision.py` measures both.
- XLA (`jit_compile=True`) was slower per step on a 2-core CPU and adds
  seconds of compilation, so it stays off; `steps_per_execution` runs
  several steps per call instead.
- Adam (Course 2, Week 2) with a one-cycle learning rate ("Learning rate
  decay"): a short linear warm-up to the peak rate, then a cosine decay to
  almost zero at the end of the planned epochs. The rate is a pure function
  of the step, so a resumed run is the same run.
- A small network: channels go up while height and width go down (Course 4,
  Week 2's classic-network pattern), 3x3 "same" convolutions (VGG), flatten,
  one hidden layer. `stem_stride=2` starts at half the height and width, so
  the widest activations are never stored at 28x28: about 2.5x the images
  per second of the same stages at full resolution, for some accuracy.
- Augmentation (Course 4, Week 2): horizontal flips (Fashion-MNIST's clothes
  are left-right symmetric) and, with `crop`, random shifts.
- What speedrun practice adds: flip test-time augmentation (`flip_tta`:
  average the logits of each image and its mirror image, `predict_logits`;
  it only helps a network trained with flips) and label smoothing.

A one-cycle schedule is planned for its length, so each target accuracy has
its own recipe: `recipe_for(target)` returns the one that
`benchmarks/time_to_accuracy.py --choose` chose for it on a validation split
held out of the training images (never on the test split), and the
benchmark's default mode measures each one's final test accuracy over seeds.
The README's "The fast recipe, measured" has both sets of figures.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import keras
import numpy as np

from kerasdl.nn.losses import SparseCategoricalCrossentropy
from kerasdl.nn.schedules import OneCycle

DTYPE_POLICIES = ("float32", "mixed_bfloat16")  # bfloat16 has float32's range: no loss scaling


@dataclasses.dataclass(frozen=True)
class FastRecipe:
    """The recipe's settings (the defaults are the first 6-epoch recipe; `recipe_for` has the chosen ones).

    Attributes:
        filters: channels of the 3x3 convolutions, one per stage; a 2x2 max
            pool follows every stage but the last.
        batch_norm: batch norm after each convolution and the hidden layer.
        stages_without_batch_norm: the first this many stages skip batch norm
            even with `batch_norm`. Their activations are the largest, so
            their batch norm costs the most: the later stages' batch norm
            is almost free beside theirs.
        hidden_units: a hidden ReLU layer (with batch norm) before the logits; 0 for none.
        batch_size: examples per mini-batch.
        epochs: the planned length of the one-cycle schedule.
        peak_learning_rate: Adam's highest learning rate.
        warmup_fraction: share of the steps spent warming up.
        flip: random horizontal flips (see `augmenter_spec`).
        crop: pad by this many pixels and crop a random window of the
            original size (random shifts, see `augmenter_spec`); 0 for none.
        label_smoothing: train on targets (1 - e) y + e / K (see `kerasdl.nn.losses`).
        flip_tta: predict the average of the logits of each image and its
            mirror image (test-time augmentation; `predict_logits`).
        stem_stride: stride of the first convolution (2 halves the image
            before any activation is stored: a quarter of the first stage's work).
        steps_per_execution: training steps per call of the compiled function
            (Keras' `steps_per_execution`): the same steps, with Python's
            per-step work paid once per call; batch-level callbacks see every
            `steps_per_execution`-th step. Keras' PyTorch trainer runs one step
            per call, so under PyTorch it is 1.
        jit_compile: compile the training step with XLA (off: slower on a 2-core CPU; see above).
        dtype_policy: Keras' dtype policy for every layer but the logits, which
            compute in float32 (see `fast_cnn`). "mixed_bfloat16" computes in
            bfloat16 and keeps float32 weights: faster on a CPU with bfloat16
            matrix units (AMX), most of all without batch norm.
    """

    filters: Sequence[int] = (16, 32, 64)
    batch_norm: bool = True
    stages_without_batch_norm: int = 0
    hidden_units: int = 128
    batch_size: int = 256
    epochs: int = 6
    peak_learning_rate: float = 3e-3
    warmup_fraction: float = 0.1
    flip: bool = False
    crop: int = 0
    label_smoothing: float = 0.0
    flip_tta: bool = False
    stem_stride: int = 1
    steps_per_execution: int = 1
    jit_compile: bool = False
    dtype_policy: str = "float32"

    def __post_init__(self):
        if not self.filters or not all(isinstance(f, int) and f > 0 for f in self.filters):
            raise ValueError(f"filters must be positive integers. Received: filters={self.filters!r}")
        if not isinstance(self.stages_without_batch_norm, int) or not (
            0 <= self.stages_without_batch_norm <= len(self.filters)
        ):
            raise ValueError(
                f"stages_without_batch_norm must be an integer in [0, {len(self.filters)}] (the stages). "
                f"Received: stages_without_batch_norm={self.stages_without_batch_norm!r}"
            )
        for name in ("batch_size", "epochs", "steps_per_execution"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
        if not isinstance(self.crop, int) or self.crop < 0:
            raise ValueError(f"crop must be a non-negative integer. Received: crop={self.crop!r}")
        if self.stem_stride not in (1, 2):
            raise ValueError(f"stem_stride must be 1 or 2. Received: stem_stride={self.stem_stride!r}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(
                f"label_smoothing must be in [0, 1). Received: label_smoothing={self.label_smoothing}"
            )
        if self.dtype_policy not in DTYPE_POLICIES:
            raise ValueError(
                f"dtype_policy must be one of {DTYPE_POLICIES}. Received: dtype_policy={self.dtype_policy!r}"
            )
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(
                f"warmup_fraction must be in [0, 1). Received: warmup_fraction={self.warmup_fraction}"
            )

    @property
    def augmenter_spec(self) -> str:
        """The `pipelines.augment.Augmenter.from_spec` text for this recipe's augmentation."""
        ops = ([f"crop={self.crop}"] if self.crop else []) + (["flip=0.5"] if self.flip else [])
        return ",".join(ops) or "none"


# Target test accuracy -> the recipe `benchmarks/time_to_accuracy.py --choose` chose for it on the validation
# split: the most accurate candidate whose training fits the target's time goal on 2 CPU cores (30 s, 60 s,
# 300 s). The README's "The fast recipe, measured" has every candidate's figures. They were chosen on a CPU
# with bfloat16 matrix units (AMX). Elsewhere `benchmarks/mixed_precision.py` measures whether
# `dataclasses.replace(recipe, dtype_policy="float32")` trains the same network faster.
_STRIDED = FastRecipe(
    filters=(32, 64), hidden_units=128, stem_stride=2, flip=True, flip_tta=True, peak_learning_rate=6e-3,
    steps_per_execution=16,
)  # fmt: skip
_FULL_RESOLUTION = FastRecipe(
    filters=(16, 64, 128), hidden_units=256, flip=True, flip_tta=True, label_smoothing=0.1,
    steps_per_execution=16, dtype_policy="mixed_bfloat16", stages_without_batch_norm=2,
)  # fmt: skip
TUNED_FOR_TARGET = {
    0.92: dataclasses.replace(_STRIDED, epochs=8, batch_norm=False, dtype_policy="mixed_bfloat16"),
    0.93: dataclasses.replace(_FULL_RESOLUTION, epochs=4),
    0.94: dataclasses.replace(_FULL_RESOLUTION, epochs=12),
}


def recipe_for(target: float) -> FastRecipe:
    """The recipe tuned to reach `target` Fashion-MNIST test accuracy (one of `TUNED_FOR_TARGET`)."""
    if target not in TUNED_FOR_TARGET:
        raise ValueError(
            f"No recipe is tuned for target={target!r}; tuned targets: {sorted(TUNED_FOR_TARGET)}"
        )
    return TUNED_FOR_TARGET[target]


def fast_cnn(
    filters: Sequence[int] = (16, 32, 64),
    batch_norm: bool = True,
    hidden_units: int = 0,
    input_shape: tuple[int, int, int] = (28, 28, 1),
    classes: int = 10,
    stem_stride: int = 1,
    dtype_policy: str | None = None,
    stages_without_batch_norm: int = 0,
) -> keras.Model:
    """The recipe's network: [3x3 conv -> (batch norm) -> ReLU -> 2x2 max pool] per stage, flatten,
    an optional hidden layer, logits; the first convolution has stride `stem_stride`, and with
    `batch_norm` every stage but the first `stages_without_batch_norm` has batch norm.

    Every layer but the logits takes `dtype_policy` (None: Keras' global policy); the logits compute
    in float32, so a 16-bit policy never rounds what the loss and the predictions read."""
    layers = keras.layers
    inputs = keras.Input(input_shape)
    x = inputs
    for stage, count in enumerate(filters):
        stride = stem_stride if stage == 0 else 1
        normalized = batch_norm and stage >= stages_without_batch_norm
        x = layers.Conv2D(
            count, 3, strides=stride, padding="same", use_bias=not normalized, name=f"conv{stage + 1}",
            dtype=dtype_policy,
        )(x)  # fmt: skip
        if normalized:
            x = layers.BatchNormalization(name=f"bn{stage + 1}", dtype=dtype_policy)(x)
        x = layers.ReLU(dtype=dtype_policy)(x)
        if stage < len(filters) - 1:
            x = layers.MaxPooling2D(2, dtype=dtype_policy)(x)
    x = layers.Flatten(dtype=dtype_policy)(x)
    if hidden_units:
        x = layers.Dense(hidden_units, use_bias=not batch_norm, name="hidden", dtype=dtype_policy)(x)
        if batch_norm:
            x = layers.BatchNormalization(name="bn_hidden", dtype=dtype_policy)(x)
        x = layers.ReLU(name="hidden_relu", dtype=dtype_policy)(x)
    outputs = layers.Dense(classes, name="logits", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="fast_cnn")


def build_fast_recipe(
    recipe: FastRecipe = FastRecipe(), train_size: int = 60_000
) -> tuple[keras.Model, keras.optimizers.Optimizer, OneCycle, int]:
    """The compiled model, its optimizer, its learning-rate schedule and the batch size.

    Args:
        recipe: the settings.
        train_size: training examples per epoch (sets the schedule's length).

    Returns:
        (model, optimizer, schedule, batch_size); the model is compiled with
        sparse categorical cross-entropy on logits and accuracy.
    """
    steps = recipe.epochs * math.ceil(train_size / recipe.batch_size)
    schedule = OneCycle(recipe.peak_learning_rate, steps, warmup_steps=int(recipe.warmup_fraction * steps))
    optimizer = keras.optimizers.Adam(learning_rate=schedule)
    model = fast_cnn(
        recipe.filters, recipe.batch_norm, recipe.hidden_units, stem_stride=recipe.stem_stride,
        dtype_policy=recipe.dtype_policy, stages_without_batch_norm=recipe.stages_without_batch_norm,
    )  # fmt: skip
    model.compile(
        optimizer=optimizer,
        loss=SparseCategoricalCrossentropy(from_logits=True, label_smoothing=recipe.label_smoothing),
        metrics=["accuracy"],
        steps_per_execution=1 if keras.backend.backend() == "torch" else recipe.steps_per_execution,
        jit_compile=recipe.jit_compile,
    )
    return model, optimizer, schedule, recipe.batch_size


def predict_logits(model: keras.Model, inputs, flip_tta: bool = False, batch_size: int = 1000) -> np.ndarray:
    """The model's logits [N, classes] for `inputs` [N, H, W, C]; with `flip_tta`, the mean of the logits
    of each image and of its left-right mirror image."""
    inputs = np.asarray(inputs)
    logits = np.asarray(model.predict(inputs, batch_size=batch_size, verbose=0), np.float64)
    if flip_tta:
        mirrored = model.predict(inputs[:, :, ::-1], batch_size=batch_size, verbose=0)
        logits = (logits + np.asarray(mirrored, np.float64)) / 2
    return logits
