"""Batch normalization: the same deep network with and without BatchNorm.

Course 2, Week 3 ("Normalizing activations in a network", "Fitting batch
norm into a neural network", "Why does batch norm work?", "Batch norm at
test time"). A five-layer network trains on a Fashion-MNIST subset with
mini-batch gradient descent, once plainly,

    Z[l] = A[l-1] W[l] + b[l],  A[l] = relu(Z[l])

and once with kerasdl.nn.layers.BatchNorm on every hidden layer, without the
now redundant bias ("if we use batch norm, we can ignore b[l]"),

    Z[l] = A[l-1] W[l],  Z~[l] = gamma * (Z[l] - mu) / sqrt(sigma^2 + eps) + beta,  A[l] = relu(Z~[l])

at each learning rate in --learning-rates: batch norm trains faster and
stays stable at rates where the plain network struggles. Dev error is
measured in inference mode, with the moving averages of mu and sigma^2
(their beta is 0.9 here rather than Keras' 0.99, which after one short epoch
still weights the initial statistics by 0.99^79 = 0.45).

Run:
    python -m experiments.batch_norm                      # default profile: 5,000 examples, 8 epochs
    python -m experiments.batch_norm --profile full       # 20,000 examples, 20 epochs
    python -m experiments.batch_norm --learning-rates 0.01,0.1,1.0
    python -m experiments.batch_norm --resume --epochs 12   # continue a stopped run, longer
    tensorboard --logdir logs/batch_norm

In TensorBoard (Time Series / Scalars): "loss" overlays the runs
<variant>_lr<rate>/train (the training cost J per epoch, with and without
batch norm on one chart); "error" adds the dev runs; "gap" (runs
<variant>_lr<rate>/gaps) is dev minus train error. Text "summary" has the
final table. A run whose loss becomes NaN stops in that epoch and is
reported as diverged.

Results (results.json, details["variants"][<variant>_lr<rate>]): variant,
learning_rate, train_loss (J) and dev_error for every epoch trained,
final_train_loss and final_dev_error (null when it diverged), diverged and
diverged_in_epoch.
"""

from __future__ import annotations

import math
import sys

import keras

from kerasdl.harness import cli, variants
from kerasdl.harness.comparison import markdown_table
from kerasdl.nn.initializers import He
from kerasdl.nn.layers import BatchNorm, Dense
from kerasdl.nn.optimizers import Momentum

EXPERIMENT = "batch_norm"
VARIANTS = ("plain", "batch_norm")
PROFILES = {  # train_size, dev_size, epochs
    "default": (5000, 2000, 8),
    "full": (20000, 5000, 20),
}


def build_parser():
    parser = cli.experiment_parser(EXPERIMENT, __doc__)
    variants.add_profile_flags(parser, PROFILES, epochs_help="epochs per run", batch_size=64)
    parser.add_argument(
        "--learning-rates",
        default="0.05,0.5",
        help="comma-separated learning rates; each trains both variants",
    )
    variants.add_network_flags(parser, width=100, depth=4)
    parser.add_argument(
        "--momentum",
        type=float,
        default=0.9,
        help="BatchNorm's moving-average beta (0.9: averages ~10 batches)",
    )
    return parser


def build_model(variant: str, input_shape, num_classes: int, depth: int, width: int, momentum: float):
    """Flatten -> depth x [Dense -> (BatchNorm) -> ReLU] -> Dense(classes, softmax), He-initialized."""
    use_batch_norm = variant == "batch_norm"
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    for index in range(depth):
        x = Dense(width, use_bias=not use_batch_norm, kernel_initializer=He(seed=index))(x)
        if use_batch_norm:
            x = BatchNorm(momentum=momentum)(x)
        x = keras.layers.ReLU()(x)
    outputs = Dense(num_classes, activation="softmax", kernel_initializer=He(seed=99))(x)
    return keras.Model(inputs, outputs, name=f"mlp_{variant}")


def diverged_in_epoch(history: dict, epochs: int) -> int | None:
    """The epoch in which training diverged, or None.

    `history` is the whole run's (`fit_variant`). A NaN loss makes
    `TerminateOnNaN` end the fit in that epoch, whose point is still logged
    (with a NaN loss), so a diverged history is shorter than `epochs` or
    holds a non-finite loss.
    """
    for epoch, loss in zip(history["epoch"], history["train"]["loss"], strict=True):
        if not math.isfinite(loss):
            return epoch
    if len(history["epoch"]) < epochs:
        return history["epoch"][-1] if history["epoch"] else 1
    return None


def summary_table(results: dict) -> str:
    """The final table; J as %.3g, since a diverging run's J spans many orders of magnitude."""
    rows = []
    for name, r in results.items():
        if r["diverged"]:
            final_loss, final_error = f"NaN in epoch {r['diverged_in_epoch']}", "-"
        else:
            final_loss, final_error = f"{r['final_train_loss']:.3g}", f"{r['final_dev_error']:.3f}"
        rows.append(
            {
                "run": name,
                "J after epoch 1": f"{r['train_loss'][0]:.3g}",
                "final J": final_loss,
                "final dev error": final_error,
            }
        )
    return markdown_table(rows)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rates = [float(rate) for rate in args.learning_rates.split(",") if rate]
    except ValueError:
        rates = []
    if not rates or not all(rate > 0 for rate in rates):
        cli.fail(
            f"--learning-rates must be comma-separated positive numbers; received {args.learning_rates!r}"
        )
    variants.apply_profile(args, PROFILES)
    cli.check_at_least(args, 1, "depth", "width")
    data = variants.load_profile_data(args)
    runs = {f"{variant}_lr{rate:g}": (variant, rate) for rate in rates for variant in VARIANTS}
    run, strategy = variants.start_variants(EXPERIMENT, args, data, runs)

    def train(name: str) -> dict:
        variant, rate = runs[name]
        history = variants.fit_variant(
            run,
            name,
            data,
            make_model=lambda: build_model(
                variant, data.input_shape, data.num_classes, args.depth, args.width, args.momentum
            ),
            make_optimizer=lambda: Momentum(rate, beta=0.0),  # plain mini-batch gradient descent
            epochs=args.epochs,
            seed=args.seed,
            strategy=strategy,
        )
        diverged_in = diverged_in_epoch(history, args.epochs)
        diverged = diverged_in is not None
        return {
            "variant": variant,
            "learning_rate": rate,
            "diverged": diverged,
            "diverged_in_epoch": diverged_in,
            "final_train_loss": None if diverged else history["train"]["loss"][-1],
            "final_dev_error": None if diverged else history["dev"]["error"][-1],
            "train_loss": history["train"]["loss"],
            "dev_error": history["dev"]["error"],
        }

    results = variants.train_variants(run, runs, train)
    variants.finish_with_table(run, summary_table(results), results, step=args.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
