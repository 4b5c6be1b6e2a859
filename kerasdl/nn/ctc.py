"""CTC for Keras models: the loss on padded transcripts, and greedy and beam-search decoding.

Course 5, Week 3, "Speech recognition": a network whose T outputs (one per
input frame, many more than characters) are distributions over the
characters and a blank is trained with the CTC loss, -log of the summed
probability of every alignment that collapses to the transcript (repeats
merged, then blanks removed), and decoded by collapsing the most likely
path (greedy) or by a prefix beam search. The formulas and the NumPy
reference are in `kerasdl.scratch.ctc`; here `keras.ops.ctc_loss` and
`keras.ops.ctc_decode` do the work on every backend, and the tests check
them against that reference.

`CTCLoss` is a Keras loss for `model.compile`: `y_true` holds each
transcript's ids padded on the right with `pad`, `y_pred` the logits
[m, T, V] (the blank is id `blank` of V). Every frame of `y_pred` counts:
give variable-length inputs padding the network can spend on blanks, or
call `keras.ops.ctc_loss` with the lengths.

Example:

    >>> loss = CTCLoss(blank=0, pad=-1)
    >>> labels = keras.ops.convert_to_tensor([[1, 2], [2, -1]])
    >>> logits = keras.ops.zeros((2, 5, 3))            # uniform over blank, 1, 2
    >>> round(float(loss(labels, logits)), 4)          # the mean of -log P(y | x) over the two examples
    2.3614
    >>> ctc_decode(keras.ops.log(keras.ops.convert_to_tensor([[[0.1, 0.8, 0.1], [0.1, 0.8, 0.1],
    ...                                                        [0.8, 0.1, 0.1], [0.1, 0.8, 0.1]]])))
    [[1, 1]]
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def _check_id(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer id. Received: {name}={value!r}")
    return int(value)


@keras.saving.register_keras_serializable(package="kerasdl")
class CTCLoss(keras.losses.Loss):
    """The CTC loss, -log P(y | x), of padded transcripts against per-frame logits.

    Args:
        blank: the blank's id among the logits' V classes.
        pad: the value that pads `y_true` on the right (not a character id).
        reduction: Keras' reduction over the examples ("sum_over_batch_size": the mean).
        name: the loss's name.

    Call arguments:
        y_true: int [m, L], each transcript's ids then `pad`.
        y_pred: logits [m, T, V] (a softmax over V is applied inside).
    """

    def __init__(self, blank: int = 0, pad: int = -1, reduction="sum_over_batch_size", name="ctc", **kwargs):
        super().__init__(reduction=reduction, name=name, **kwargs)
        self.blank = _check_id("blank", blank)
        self.pad = _check_id("pad", pad)
        if self.blank == self.pad:
            raise ValueError(f"pad must differ from the blank. Received: blank={blank}, pad={pad}")

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "int32")
        label_length = ops.sum(ops.cast(ops.not_equal(y_true, self.pad), "int32"), axis=-1)
        labels = ops.where(ops.equal(y_true, self.pad), ops.zeros_like(y_true), y_true)
        shape = ops.shape(y_pred)
        logit_length = ops.full((shape[0],), shape[1], dtype="int32")
        return ops.ctc_loss(labels, y_pred, label_length, logit_length, mask_index=self.blank)

    def get_config(self) -> dict:
        return {**super().get_config(), "blank": self.blank, "pad": self.pad}


def ctc_decode(logits, lengths=None, beam_width: int = 1, blank: int = 0) -> list[list[int]]:
    """The transcript of each example: the collapsed best path (B = 1) or prefix beam search (B > 1).

    Args:
        logits: [m, T, V] logits or log-probabilities (the decoding is the same).
        lengths: int [m], the real frames of each example (None: all T).
        beam_width: 1 for greedy decoding, more for `keras.ops.ctc_decode`'s beam search.
        blank: the blank's id.

    Returns:
        One list of ids per example.
    """
    beam_width = _check_id("beam_width", beam_width)
    if beam_width < 1:
        raise ValueError(f"beam_width must be at least 1. Received: beam_width={beam_width}")
    logits = ops.convert_to_tensor(logits)
    shape = ops.shape(logits)
    if lengths is None:
        lengths = ops.full((shape[0],), shape[1], dtype="int32")
    strategy = "greedy" if beam_width == 1 else "beam_search"
    decoded, _ = ops.ctc_decode(
        logits,
        lengths,
        strategy=strategy,
        beam_width=beam_width,
        top_paths=1,
        mask_index=_check_id("blank", blank),
    )
    rows = np.asarray(ops.convert_to_numpy(decoded))[0]
    return [[int(k) for k in row if k >= 0] for row in rows]
