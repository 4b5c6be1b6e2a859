"""Regularization: no regularization vs L2 vs inverted dropout on an overfitting network.

Course 2, Week 1 ("Regularization", "Why regularization reduces
overfitting", "Dropout regularization"). A wide three-layer network trains on
a small slice of Fashion-MNIST, so it overfits: training error falls towards
zero while dev error stalls, and the gap between them (the lesson's variance)
grows. The same network, from the same initial weights, then trains with

    L2:       J + lambda / (2m) * sum_l ||W[l]||_F^2   (kerasdl.nn.regularizers.L2)
    dropout:  a[l] * d[l] / keep_prob on hidden layers (kerasdl.nn.layers.InvertedDropout)

and both should shrink the gap. The optimizer is gradient descent with
momentum (kerasdl.nn.optimizers.Momentum), under which L2 is plain weight
decay as in the lesson (Adam's per-weight scaling weakens it). Training
error is measured in inference mode (no dropout), as the lesson says to:
"turn off dropout" when checking J.

Run:
    python -m experiments.regularization                    # default profile: 3 variants x 30 epochs
    python -m experiments.regularization --profile full     # 10,000 examples, 60 epochs
    python -m experiments.regularization --lambd 5 --keep-prob 0.6
    python -m experiments.regularization --resume --epochs 40   # continue a stopped run, longer
    tensorboard --logdir logs/regularization

In TensorBoard (Time Series / Scalars): "error" overlays the runs
<variant>/train and <variant>/dev for none, l2 and dropout (regex-filter the
runs to compare two); "gap" (runs <variant>/gaps) is dev minus train error
per variant, the variance the regularizers attack; "weights/squared_norm"
(runs <variant>) shows L2 shrinking sum ||W||_F^2; "loss" is J as training
sees it (for l2, with the penalty). Text "summary" has the final table.

Results (results.json, details["variants"][<variant>]): train_error,
dev_error and gap after the last epoch, and max_gap over every epoch.
"""

from __future__ import annotations

import sys

import keras
import numpy as np
import tensorflow as tf

from kerasdl.harness import cli, variants
from kerasdl.harness.comparison import markdown_table
from kerasdl.nn.initializers import He
from kerasdl.nn.layers import Dense, InvertedDropout
from kerasdl.nn.optimizers import Momentum
from kerasdl.nn.regularizers import L2

EXPERIMENT = "regularization"
VARIANTS = ("none", "l2", "dropout")
PROFILES = {  # train_size, dev_size, epochs
    "default": (2000, 2000, 30),
    "full": (10000, 5000, 60),
}


def build_parser():
    parser = cli.experiment_parser(EXPERIMENT, __doc__)
    variants.add_profile_flags(parser, PROFILES)
    cli.add_subset_flag(parser, "--variants", VARIANTS)
    variants.add_network_flags(parser, width=512)
    parser.add_argument(
        "--lambd",
        type=float,
        default=10.0,
        help="L2 strength lambda in lambda / (2m) * sum ||W||^2, m = training examples",
    )
    parser.add_argument("--keep-prob", type=float, default=0.5, help="inverted dropout keep probability")
    cli.add_learning_rate_flag(parser, 0.1, optimizer="gradient descent with momentum")
    return parser


def build_model(
    variant: str, input_shape, num_classes: int, width: int, m: int, lambd: float, keep_prob: float
):
    """Flatten -> [Dense(width, relu) -> (dropout)] x 2 -> Dense(classes) -> softmax."""
    regularizer = L2(lambda_=lambd, m=m) if variant == "l2" else None
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    for index in range(2):
        x = Dense(
            width, activation="relu", kernel_initializer=He(seed=index), kernel_regularizer=regularizer
        )(x)
        if variant == "dropout":
            x = InvertedDropout(keep_prob, seed=index)(x)
    outputs = Dense(
        num_classes, activation="softmax", kernel_initializer=He(seed=9), kernel_regularizer=regularizer
    )(x)
    return keras.Model(inputs, outputs, name=f"mlp_{variant}")


class WeightNorm(keras.callbacks.Callback):
    """Logs sum_l ||W[l]||_F^2 over the kernels after each epoch (what L2 penalizes)."""

    def __init__(self, writer):
        super().__init__()
        self.writer = writer

    def on_epoch_end(self, epoch, logs=None):
        norm = sum(float(np.sum(np.square(w.numpy()))) for w in self.model.weights if w.name == "kernel")
        with self.writer.as_default():
            tf.summary.scalar("weights/squared_norm", norm, step=epoch + 1)


def summary_table(results: dict) -> str:
    """The final table: each variant's errors and gap after the last epoch, and its largest gap."""
    return markdown_table(
        [
            {
                "variant": name,
                "train error": r["train_error"],
                "dev error": r["dev_error"],
                "gap (dev - train)": r["gap"],
                "max gap": r["max_gap"],
            }
            for name, r in results.items()
        ]
    )


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    chosen = cli.parse_subset("--variants", args.variants, VARIANTS)
    variants.apply_profile(args, PROFILES)
    if not 0 < args.keep_prob <= 1 or args.lambd < 0:
        cli.fail(
            f"--keep-prob must be in (0, 1] and --lambd >= 0; received {args.keep_prob} and {args.lambd}"
        )
    data = variants.load_profile_data(args)
    run, strategy = variants.start_variants(EXPERIMENT, args, data, chosen)

    def train(variant: str) -> dict:
        history = variants.fit_variant(
            run,
            variant,
            data,
            make_model=lambda: build_model(
                variant, data.input_shape, data.num_classes, args.width, data.m, args.lambd, args.keep_prob
            ),
            make_optimizer=lambda: Momentum(args.learning_rate, beta=0.9),
            epochs=args.epochs,
            seed=args.seed,
            strategy=strategy,
            callbacks=[WeightNorm(run.writer(variant))],
        )
        return {
            "train_error": history["train"]["error"][-1],
            "dev_error": history["dev"]["error"][-1],
            "gap": history["gap"][-1],
            "max_gap": max(history["gap"]),
        }

    results = variants.train_variants(run, chosen, train)
    variants.finish_with_table(run, summary_table(results), results, step=args.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
