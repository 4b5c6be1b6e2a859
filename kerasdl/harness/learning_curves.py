"""Learning curves of a model kerasdl can build: one model per nested training subset, as phases of a run.

The analysis (the fall of dev error over the last doubling, the advice, the
chart) is `kerasdl.diagnostics.learning_curves`; this module trains the
points. For each fraction below 1 of `--learning-curve` (default 1/8, 1/4,
1/2 and 1), a fresh model from the run's builder trains on the examples of
the training split whose id hash falls below the fraction
(`pipelines.subsets.nested_hash_subsets`: each set is part of the next), and
its training error (on at most `--train-eval-size` of its own examples) and
dev error are measured. Fraction 1 is the run's own model, already trained
on all of train: its point is the decomposition's training and dev error.

Every model takes about as many training steps as the run's own model: a
subset of m of the N training examples trains for ceil(epochs x N / m)
epochs. With the same number of epochs instead, a small set would also get
fewer updates, and the curve would mix "less data" with "trained less"
(training error falling with size, the mark of undertrained models, where
more data should raise it). The price: each size costs about one training
of the run's model.

Each size is a phase (`learning_curve/n<size>`) with its own backup, so a
resumed run skips the sizes that finished and continues an interrupted one
where it stopped. Every model starts from the seed `--seed + its index`, so
a size trains the same whether or not the sizes before it ran in this
process. All sizes use the inputs of the full training split (its
standardization), so they differ only in the number of labelled examples.

TensorBoard: runs "learning_curve/train" and "learning_curve/dev", tag
"learning_curve/error" whose step is the training-set size; Images
"learning_curve/plot" (run "learning_curve"); the PNG is
`<run>/learning_curve.png`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from fractions import Fraction

import keras
from PIL import Image

from kerasdl.diagnostics.images import for_summary
from kerasdl.diagnostics.learning_curves import LearningCurve, learning_curve_image
from kerasdl.harness.mismatch_data import MismatchData
from kerasdl.harness.run import Run, set_seeds
from kerasdl.training.io import atomic_write_bytes
from pipelines.subsets import hash_subset, nested_hash_subsets

DEFAULT_FRACTIONS = "1/8,1/4,1/2,1"
PNG = "learning_curve.png"
TAG = "learning_curve/error"


def parse_fractions(text: str) -> tuple[float, ...]:
    """The fractions of `--learning-curve` ("1/8,1/4,1/2,1"; "none" for no curve), or a `ValueError`.

    They must increase, lie in (0, 1], number at least two and end with 1
    (the run's own model, trained on all of train).
    """
    if text.strip().lower() in ("", "none", "0"):
        return ()
    try:
        fractions = tuple(float(Fraction(part.strip())) for part in text.split(","))
    except (ValueError, ZeroDivisionError):
        raise ValueError(
            f"--learning-curve takes fractions such as 1/8,1/4,1/2,1 (or 'none'); received {text!r}"
        ) from None
    increasing = all(a < b for a, b in zip(fractions, fractions[1:], strict=False))
    if len(fractions) < 2 or not increasing or fractions[0] <= 0 or fractions[-1] != 1:
        raise ValueError(
            "--learning-curve takes at least two increasing fractions in (0, 1] ending with 1 (the model "
            f"trained on all of train), e.g. 1/8,1/4,1/2,1; received {text!r}"
        )
    return fractions


def train_size(
    run: Run,
    build_model: Callable[[], keras.Model],
    data: MismatchData,
    fraction: float,
    index: int,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    train_eval_size: int,
) -> dict:
    """Trains one model on the nested subset of `fraction` and measures it.

    Returns:
        {"fraction", "size", "epochs", "train_error", "dev_error"} (JSON).
    """
    (subset,) = nested_hash_subsets(data.split.train, [fraction], salt=f"learning-curve/{seed}")
    if len(subset) == 0:
        raise ValueError(
            f"The learning curve's subset of {fraction:g} of train is empty ({len(data.split.train)} "
            "examples): use more examples or larger fractions."
        )
    set_seeds(seed + index)
    model = build_model()
    train = data.dataset(subset, batch_size, shuffle=True, seed=seed)
    name = f"learning_curve_n{len(subset)}"
    epochs_here = math.ceil(epochs * len(data.split.train) / len(subset))  # about the full model's steps
    callbacks = run.resume_callbacks(train, name=name)
    model.fit(train, epochs=epochs_here, callbacks=callbacks, shuffle=False, verbose=0)
    measured = hash_subset(subset, train_eval_size, salt="train-eval") if train_eval_size else subset
    errors = {}
    for split, part in (("train", measured), ("dev", data.split.dev)):
        results = model.evaluate(data.dataset(part, 512), verbose=0, return_dict=True)
        errors[split] = 1.0 - float(results["accuracy"])
    return {
        "fraction": fraction,
        "size": len(subset),
        "epochs": epochs_here,
        "train_error": errors["train"],
        "dev_error": errors["dev"],
    }


def learning_curve(
    run: Run,
    build_model: Callable[[], keras.Model],
    data: MismatchData,
    fractions: Sequence[float],
    full_errors: tuple[float, float],
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    train_eval_size: int,
) -> LearningCurve:
    """The learning curve: one phase per fraction below 1, and the run's own model for fraction 1.

    Args:
        run: the run (phases, backups).
        build_model: returns a new compiled model (metrics=["accuracy"]).
        data: the run's data.
        fractions: from `parse_fractions`.
        full_errors: (training error, dev error) of the run's model on all of train.
        epochs, batch_size, seed, train_eval_size: as the run's model trained and was measured.
    """
    points = []
    for index, fraction in enumerate(fractions[:-1]):
        size = len(nested_hash_subsets(data.split.train, [fraction], salt=f"learning-curve/{seed}")[0])
        points.append(
            run.once(
                f"learning_curve/n{size}",
                train_size,
                run,
                build_model,
                data,
                fraction,
                index,
                epochs=epochs,
                batch_size=batch_size,
                seed=seed,
                train_eval_size=train_eval_size,
            )
        )
    train_error, dev_error = full_errors
    points.append(
        {"fraction": 1.0, "size": len(data.split.train), "epochs": epochs, "train_error": train_error,
         "dev_error": dev_error}
    )  # fmt: skip
    return LearningCurve(
        sizes=[p["size"] for p in points],
        train_error=[p["train_error"] for p in points],
        dev_error=[p["dev_error"] for p in points],
        dev_examples=len(data.split.dev),
        epochs=[p["epochs"] for p in points],
    )


def log_learning_curve(run: Run, curve: LearningCurve, step: int) -> str:
    """Writes the curve to TensorBoard (scalars by size, the chart) and `<run>/learning_curve.png`.

    Returns:
        The PNG's path.
    """
    import tensorflow as tf

    for size, train, dev in zip(curve.sizes, curve.train_error, curve.dev_error, strict=True):
        run.curves.log("learning_curve/train", TAG, size, train)
        run.curves.log("learning_curve/dev", TAG, size, dev)
    run.curves.save()
    chart = learning_curve_image(curve)
    with run.writer("learning_curve").as_default():
        tf.summary.image("learning_curve/plot", for_summary(chart), step=step)
    png = io.BytesIO()
    Image.fromarray(chart).save(png, format="PNG")
    return str(atomic_write_bytes(run.dir / PNG, png.getvalue()))
