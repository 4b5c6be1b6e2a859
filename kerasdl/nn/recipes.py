"""A fast training recipe for Fashion-MNIST on a CPU, built from the lessons' levers.

Course 2 and Course 4 give the levers; this module turns them into one
configuration (`FastRecipe`) and one function (`build_fast_recipe`) that
returns the compiled model, its optimizer and schedule, and the batch size:

- Batch norm (Course 2, Week 3) lets a higher learning rate train stably.
  It is not free on the CPU: Keras' `BatchNormalization` is several
  element-wise ops, so the same network trains fewer images per second
  with it than without. XLA (`jit_compile=True`) was meant to fuse those
  ops, but on a 2-core CPU it was slower per step and adds seconds of
  compilation, so the recipe leaves it off. `benchmarks/time_to_accuracy.py`
  prints the throughput with and without each (`profile_*` lines; the
  README's "The fast recipe, measured" has the figures).
- Adam (Course 2, Week 2) with a one-cycle learning rate (Course 2, Week 2,
  "Learning rate decay"): a short linear warm-up to the peak rate, then a
  cosine decay to almost zero at the end of the planned epochs. The rate is
  a pure function of the step, so a resumed run is the same run.
- Mini-batch size (Course 2, Week 2): 256, large enough to vectorize well
  on two cores, small enough for many updates per epoch.
- A small network: channels go up while height and width go down (Course 4,
  Week 2's classic-network pattern), 3x3 "same" convolutions (VGG),
  flatten, one 128-unit hidden layer.
- Augmentation (Course 4, Week 2): horizontal flips (Fashion-MNIST's
  clothes are left-right symmetric), with `flip=True`, for the longer
  schedule: the 6-epoch schedule without flips stops short of 93%, and 16
  epochs with flips pass it. How soon a target is passed moves with the
  batch order (and so with the seed and the pipeline's shuffling).

A schedule is planned for a target: the shortest one-cycle schedule that
reaches 92% test accuracy does not reach 93%, and the one that reaches 93%
is slower to 92% (its learning rate is still high then). `recipe_for(target)`
returns the settings tuned for each target; `benchmarks/time_to_accuracy.py`
measures them next to a plain CNN with Keras' default settings.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import keras

from kerasdl.nn.schedules import OneCycle


@dataclasses.dataclass(frozen=True)
class FastRecipe:
    """The recipe's settings; the defaults are the tuned ones.

    Attributes:
        filters: channels of the 3x3 convolutions, one per stage; a 2x2 max
            pool follows every stage but the last.
        batch_norm: batch norm after each convolution.
        hidden_units: a hidden ReLU layer (with batch norm) before the logits; 0 for none.
        batch_size: examples per mini-batch.
        epochs: the planned length of the one-cycle schedule.
        peak_learning_rate: Adam's highest learning rate.
        warmup_fraction: share of the steps spent warming up.
        flip: random horizontal flips (see `augmenter_spec`).
        jit_compile: compile the training step with XLA (off: slower on a 2-core CPU; see above).
    """

    filters: Sequence[int] = (16, 32, 64)
    batch_norm: bool = True
    hidden_units: int = 128
    batch_size: int = 256
    epochs: int = 6
    peak_learning_rate: float = 3e-3
    warmup_fraction: float = 0.1
    flip: bool = False
    jit_compile: bool = False

    def __post_init__(self):
        if not self.filters or not all(isinstance(f, int) and f > 0 for f in self.filters):
            raise ValueError(f"filters must be positive integers. Received: filters={self.filters!r}")
        for name in ("batch_size", "epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(
                f"warmup_fraction must be in [0, 1). Received: warmup_fraction={self.warmup_fraction}"
            )

    @property
    def augmenter_spec(self) -> str:
        """The `pipelines.augment.Augmenter.from_spec` text for this recipe's augmentation."""
        return "flip=0.5" if self.flip else "none"


# Test accuracy -> the settings that reach it fastest on Fashion-MNIST on 2 CPU cores (measured with
# benchmarks/time_to_accuracy.py; see the README's benchmark table).
TUNED_FOR_TARGET = {0.92: FastRecipe(), 0.93: FastRecipe(epochs=16, flip=True)}


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
) -> keras.Model:
    """The recipe's network: [3x3 conv -> (batch norm) -> ReLU -> 2x2 max pool] per stage, flatten,
    an optional hidden layer, logits."""
    layers = keras.layers
    inputs = keras.Input(input_shape)
    x = inputs
    for stage, count in enumerate(filters):
        x = layers.Conv2D(count, 3, padding="same", use_bias=not batch_norm, name=f"conv{stage + 1}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"bn{stage + 1}")(x)
        x = layers.ReLU()(x)
        if stage < len(filters) - 1:
            x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    if hidden_units:
        x = layers.Dense(hidden_units, use_bias=not batch_norm, name="hidden")(x)
        if batch_norm:
            x = layers.BatchNormalization(name="bn_hidden")(x)
        x = layers.ReLU(name="hidden_relu")(x)
    outputs = layers.Dense(classes, name="logits")(x)
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
    model = fast_cnn(recipe.filters, recipe.batch_norm, recipe.hidden_units)
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=recipe.jit_compile,
    )
    return model, optimizer, schedule, recipe.batch_size
