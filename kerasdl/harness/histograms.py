"""Every trainable weight of a model as a TensorBoard histogram, after every epoch.

Course 1, Week 3 ("Random initialization") and Course 2, Week 1 ("Vanishing
/ exploding gradients"): how a layer's weights spread, and how that spread
moves while the model trains, tells whether a layer learns at all (a
histogram that never moves), explodes (one that widens epoch after epoch)
or is dead (one collapsed at zero). Keras 3's `TensorBoard(histogram_freq=...)`
does this only for a model trained with its callback writing every scalar
too; kerasdl's experiments write their curves with `EpochCurves`, so this
callback writes the histograms alone, into the run's TensorBoard run
"weights", one tag per weight: `<layer>/<weight>` (e.g. `conv2d/kernel`,
`batch_normalization/gamma`).

Example:

    model.fit(train, epochs=4, callbacks=[WeightHistograms(run.writer("weights")), ...])
"""

from __future__ import annotations

import keras
import tensorflow as tf

from kerasdl.training.distribute import is_chief


def weight_tags(model: keras.Model) -> dict[str, keras.Variable]:
    """Tag -> trainable variable; the tag is the variable's path, `<layer>/<weight>` (nested models too)."""
    return {variable.path: variable for variable in model.trainable_weights}


def log_weight_histograms(writer, model: keras.Model, step: int) -> list[str]:
    """One histogram per trainable weight of `model` at `step`, to `writer`; returns the tags (chief only)."""
    tags = weight_tags(model)
    if not is_chief():
        return sorted(tags)
    with writer.as_default():
        for tag, variable in tags.items():
            tf.summary.histogram(tag, keras.ops.convert_to_numpy(variable), step=step)
    writer.flush()
    return sorted(tags)


class WeightHistograms(keras.callbacks.Callback):
    """After every epoch (step = epochs done), the histogram of every trainable weight (module docstring).

    Args:
        writer: a `tf.summary` writer, e.g. `run.writer("weights")`.
    """

    def __init__(self, writer):
        super().__init__()
        self.writer = writer

    def on_epoch_end(self, epoch, logs=None):
        log_weight_histograms(self.writer, self.model, epoch + 1)
