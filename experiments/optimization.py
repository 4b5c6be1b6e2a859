"""Optimization algorithms: batch GD, mini-batch GD, momentum, RMSprop, Adam and Adam with decay.

Course 2, Week 2 ("Mini-batch gradient descent", "Gradient descent with
momentum", "RMSprop", "Adam optimization algorithm", "Learning rate
decay"). One small network, from the same initial weights, trains on the same
Fashion-MNIST subset with each algorithm, written as the lesson writes it
(kerasdl.nn.optimizers, kerasdl.nn.schedules):

    batch_gd      W -= alpha dW, one step per epoch on all m examples
    minibatch_gd  the same update on mini-batches of 64
    momentum      v = beta v + (1 - beta) dW;  W -= alpha v
    rmsprop       s = beta s + (1 - beta) dW^2;  W -= alpha dW / sqrt(s + eps)
    adam          both, bias-corrected: W -= alpha v_hat / sqrt(s_hat + eps)
    adam_decay    Adam with alpha = alpha0 / (1 + decay_rate * epoch_num)

After every epoch the cost J is measured on the whole training set (in
inference mode, so every variant is measured the same way) together with
dev error.

Run:
    python -m experiments.optimization                    # default profile: 5,000 examples, 10 epochs
    python -m experiments.optimization --profile full     # 20,000 examples, 20 epochs
    python -m experiments.optimization --variants momentum,adam --epochs 5
    python -m experiments.optimization --resume --epochs 15   # continue a stopped run, longer
    tensorboard --logdir logs/optimization

In TensorBoard (Time Series / Scalars): "loss" overlays every
<variant>/train run, the training cost J per epoch, so the algorithms'
speeds compare on one chart (batch GD takes one step per epoch);
"error" adds dev error (runs <variant>/dev); "learning_rate" (runs
<variant>/train) shows Adam's decay against the constant rates. Text
"summary" has the final table.

Results (results.json, details["variants"][<variant>]): steps_per_epoch,
final_train_loss, final_dev_error, and train_loss (J) and dev_error for
every epoch; metrics "<variant>/final_dev_error" and so on.
"""

from __future__ import annotations

import sys

import keras

from kerasdl.harness import cli, variants
from kerasdl.harness.comparison import markdown_table
from kerasdl.nn.initializers import He
from kerasdl.nn.layers import Dense
from kerasdl.nn.optimizers import Adam, Momentum, RMSprop
from kerasdl.nn.schedules import InverseTimeDecay

EXPERIMENT = "optimization"
VARIANTS = ("batch_gd", "minibatch_gd", "momentum", "rmsprop", "adam", "adam_decay")
PROFILES = {  # train_size, dev_size, epochs
    "default": (5000, 2000, 10),
    "full": (20000, 5000, 20),
}


def build_parser():
    parser = cli.experiment_parser(EXPERIMENT, __doc__)
    variants.add_profile_flags(
        parser, PROFILES, batch_size=64, batch_size_help="mini-batch size (batch_gd uses all of m)"
    )
    cli.add_subset_flag(parser, "--variants", VARIANTS)
    parser.add_argument(
        "--gd-learning-rate", type=float, default=0.1, help="alpha of (mini-)batch GD and momentum"
    )
    parser.add_argument("--beta", type=float, default=0.9, help="momentum's beta")
    parser.add_argument(
        "--adaptive-learning-rate", type=float, default=1e-3, help="alpha of RMSprop and Adam"
    )
    parser.add_argument("--decay-rate", type=float, default=0.5, help="adam_decay: decay_rate per epoch")
    parser.add_argument("--decay-initial-rate", type=float, default=3e-3, help="adam_decay: alpha0")
    return parser


def make_optimizer(variant: str, args, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The lesson's algorithm for `variant`; plain gradient descent is momentum with beta = 0."""
    if variant in ("batch_gd", "minibatch_gd"):
        return Momentum(args.gd_learning_rate, beta=0.0)
    if variant == "momentum":
        return Momentum(args.gd_learning_rate, beta=args.beta)
    if variant == "rmsprop":
        return RMSprop(args.adaptive_learning_rate)
    if variant == "adam":
        return Adam(args.adaptive_learning_rate)
    schedule = InverseTimeDecay(args.decay_initial_rate, args.decay_rate, steps_per_epoch=steps_per_epoch)
    return Adam(schedule)


def build_model(input_shape, num_classes: int) -> keras.Model:
    """Flatten -> Dense(128, relu) -> Dense(64, relu) -> Dense(classes, softmax), He-initialized."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    for index, units in enumerate((128, 64)):
        x = Dense(units, activation="relu", kernel_initializer=He(seed=index))(x)
    outputs = Dense(num_classes, activation="softmax", kernel_initializer=He(seed=9))(x)
    return keras.Model(inputs, outputs, name="mlp")


def summary_table(results: dict) -> str:
    """The final table: each algorithm's steps per epoch, J after the first and the last epoch, dev error."""
    return markdown_table(
        [
            {
                "variant": name,
                "steps/epoch": r["steps_per_epoch"],
                "J after epoch 1": r["train_loss"][0],
                "final J": r["final_train_loss"],
                "final dev error": r["final_dev_error"],
            }
            for name, r in results.items()
        ]
    )


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    chosen = cli.parse_subset("--variants", args.variants, VARIANTS)
    variants.apply_profile(args, PROFILES)
    if not 0 <= args.beta < 1:
        cli.fail(f"--beta must be in [0, 1); received {args.beta}")
    minibatch = variants.load_profile_data(args)
    full_batch = variants.load_profile_data(args, batch_size=args.train_size)  # batch gradient descent
    run, strategy = variants.start_variants(EXPERIMENT, args, minibatch, chosen)

    def train(variant: str) -> dict:
        data = full_batch if variant == "batch_gd" else minibatch
        steps_per_epoch = int(data.train.cardinality())
        history = variants.fit_variant(
            run,
            variant,
            data,
            make_model=lambda: build_model(data.input_shape, data.num_classes),
            make_optimizer=lambda: make_optimizer(variant, args, steps_per_epoch),
            epochs=args.epochs,
            seed=args.seed,
            strategy=strategy,
        )
        return {
            "steps_per_epoch": steps_per_epoch,
            "final_train_loss": history["train"]["loss"][-1],
            "final_dev_error": history["dev"]["error"][-1],
            "train_loss": history["train"]["loss"],
            "dev_error": history["dev"]["error"],
        }

    results = variants.train_variants(run, chosen, train)
    variants.finish_with_table(run, summary_table(results), results, step=args.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
