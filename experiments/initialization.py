"""Initialization: zeros vs large random vs He on a deep plain network.

Course 2, Week 1 ("Vanishing / exploding gradients", "Weight initialization
for deep networks") and the initialization assignment. The same deep ReLU
network (Flatten -> 6 x Dense(128, relu) -> Dense(10)) trains on a slice of
Fashion-MNIST three times, from three initializations of every kernel:

    zeros:  W[l] = 0                                   (b[l] = 0 throughout)
    large:  W[l] = randn(n[l], n[l-1]) * 10            the assignment's "large random"
    he:     W[l] = randn(n[l], n[l-1]) * sqrt(2 / n[l-1])

What the lesson predicts, and what the logs let you check:

- zeros never breaks symmetry: every hidden unit computes the same thing
  (here, with ReLU, nothing at all), the hidden layers' gradients are
  exactly 0, only the output bias learns, and the error stays at the class
  prior (90% for ten balanced classes).
- large random explodes: activations grow by ~10 sqrt(n/2) per layer, the
  logits are huge, softmax saturates, the loss and the gradients are orders
  of magnitude above He's, and Adam's small steps barely move weights of
  size 10: training hardly recovers.
- He keeps the scale of activations and gradients about equal from layer
  to layer, and trains.

Run:
    python -m experiments.initialization                     # default profile: 5,000 examples, 5 epochs
    python -m experiments.initialization --profile full      # 20,000 examples, 15 epochs
    python -m experiments.initialization --large-scale 3 --depth 10
    python -m experiments.initialization --resume --epochs 8  # continue a stopped run, longer
    tensorboard --logdir logs/initialization

In TensorBoard:
- Scalars / Time Series: "loss" and "error" overlay the runs <init>/train
  and <init>/dev (measured after every epoch in inference mode on the whole
  sets; log-scale the axis to compare the losses); "gap" (runs <init>/gaps)
  is dev minus train error. Under <init>/layers: "gradient_norm/<layer>"
  (the gradient norm of each kernel on a fixed probe batch, step 0 = before
  training: of the same order in every layer for He, exactly 0 for zeros,
  far larger for large) and "symmetry/<layer>" (the largest difference
  between two units' incoming weights: 0 means all units are identical).
- Histograms / Distributions: "weights/<layer>", "gradients/<layer>" and
  "activations/<layer>" per initialization (the large random activations
  spread over many orders of magnitude; the zeros ones are a spike at 0).
- Text: "summary", the final table.

Results (results.json, details["variants"][<init>]): train_error and
dev_error after the last epoch, epoch1_loss (J on the training set after
epoch 1), and the probe's gradient norm of the first and the last layer
before training.
"""

from __future__ import annotations

import sys

import keras
import numpy as np
import tensorflow as tf

from kerasdl.harness import cli, variants
from kerasdl.harness.comparison import markdown_table
from kerasdl.harness.curves import EpochCurves, epoch_history
from kerasdl.nn.initializers import He
from kerasdl.training.loop import TrainingLoop

EXPERIMENT = "initialization"
INITIALIZATIONS = ("zeros", "large", "he")
PROFILES = {  # train_size, dev_size, epochs
    "default": (5000, 2000, 5),
    "full": (20000, 5000, 15),
}
PROBE_SIZE = 256  # examples in the fixed batch the per-layer gradients are measured on


def build_parser():
    parser = cli.experiment_parser(EXPERIMENT, __doc__)
    variants.add_profile_flags(parser, PROFILES, epochs_help="epochs per initialization")
    cli.add_subset_flag(parser, "--inits", INITIALIZATIONS)
    variants.add_network_flags(parser, width=128, depth=6)
    parser.add_argument("--large-scale", type=float, default=10.0,
                        help="the multiplier of randn for 'large' (the assignment uses 10)")  # fmt: skip
    cli.add_learning_rate_flag(parser, 1e-3)
    return parser


def kernel_initializer(name: str, large_scale: float, seed: int):
    """The Keras initializer of each lesson variant (Keras kernels are W transposed)."""
    if name == "zeros":
        return keras.initializers.Zeros()
    if name == "large":
        return keras.initializers.RandomNormal(stddev=large_scale, seed=seed)
    return He(seed=seed)


def build_model(name: str, input_shape, num_classes: int, depth: int, width: int, large_scale: float):
    """Flatten -> depth x Dense(width, relu) -> Dense(classes), logits out."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    for index in range(depth):
        initializer = kernel_initializer(name, large_scale, seed=index)
        x = keras.layers.Dense(
            width, activation="relu", kernel_initializer=initializer, name=f"dense_{index + 1}"
        )(x)
    outputs = keras.layers.Dense(
        num_classes, kernel_initializer=kernel_initializer(name, large_scale, seed=depth), name="logits"
    )(x)
    return keras.Model(inputs, outputs, name=f"plain_{name}")


class LayerProbe(keras.callbacks.Callback):
    """Per-layer weights, gradients and activations on one fixed batch, to TensorBoard.

    `log(step)` measures and writes them; as a callback it does so after
    every epoch, at step = the number of epochs trained.
    """

    def __init__(self, model: keras.Model, loss, x: tf.Tensor, y: tf.Tensor, writer):
        super().__init__()
        self.set_model(model)
        self.loss, self.x, self.y, self.writer = loss, x, y, writer
        self.dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
        self.activations = keras.Model(model.inputs, [layer.output for layer in self.dense])

    @tf.function
    def _measure(self):
        with tf.GradientTape() as tape:
            outputs = self.activations(self.x, training=False)
            loss = self.loss(self.y, outputs[-1])
        kernels = [layer.kernel for layer in self.dense]
        return tape.gradient(loss, kernels), outputs

    def log(self, step: int) -> dict[str, float]:
        """Measures and logs the probe at `step`; returns each kernel's gradient norm by layer name."""
        grads, outputs = self._measure()
        norms = {}
        with self.writer.as_default():
            for layer, grad, output in zip(self.dense, grads, outputs, strict=True):
                kernel = layer.kernel.numpy()
                norms[layer.name] = float(tf.norm(grad))
                tf.summary.scalar(f"gradient_norm/{layer.name}", norms[layer.name], step=step)
                # Units are the kernel's columns: identical columns = symmetric units.
                tf.summary.scalar(f"symmetry/{layer.name}", float(np.ptp(kernel, axis=1).max()), step=step)
                tf.summary.histogram(f"weights/{layer.name}", kernel, step=step)
                tf.summary.histogram(f"gradients/{layer.name}", grad, step=step)
                tf.summary.histogram(f"activations/{layer.name}", output, step=step)
        return norms

    def on_epoch_end(self, epoch, logs=None):
        self.log(step=epoch + 1)


def summary_table(results: dict) -> str:
    """The final table; gradient norms span many orders of magnitude, so they are shown as %.3g."""
    return markdown_table(
        [
            {
                "init": name,
                "train error": r["train_error"],
                "dev error": r["dev_error"],
                "epoch-1 loss": f"{r['epoch1_loss']:.3g}",
                "grad norm at init, first layer": f"{r['first_layer_gradient_norm_at_init']:.3g}",
                "last layer": f"{r['last_layer_gradient_norm_at_init']:.3g}",
            }
            for name, r in results.items()
        ]
    )


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    inits = cli.parse_subset("--inits", args.inits, INITIALIZATIONS)
    variants.apply_profile(args, PROFILES)
    cli.check_at_least(args, 1, "depth", "width")
    if args.large_scale <= 0:
        cli.fail(f"--large-scale must be positive; received {args.large_scale}")
    data = variants.load_profile_data(args)
    run, strategy = variants.start_variants(EXPERIMENT, args, data, inits)
    probe_x, probe_y = next(iter(data.train_eval.unbatch().batch(PROBE_SIZE)))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def train(name: str) -> dict:
        keras.utils.set_random_seed(args.seed)
        with strategy.scope():
            model = build_model(
                name, data.input_shape, data.num_classes, args.depth, args.width, args.large_scale
            )
            optimizer = keras.optimizers.Adam(args.learning_rate)
        loop = TrainingLoop(model, optimizer, loss, [keras.metrics.SparseCategoricalAccuracy("accuracy")],
                            strategy=strategy)  # fmt: skip
        probe = LayerProbe(model, loss, probe_x, probe_y, run.writer(f"{name}/layers"))
        at_init = run.once(f"probe_at_init/{name}", probe.log, 0)  # step 0: the initial weights
        curves = EpochCurves(run.curves, {"train": data.train_eval, "dev": data.dev}, prefix=name,
                             evaluator=loop)  # fmt: skip
        loop.fit(
            data.fresh_train(),  # the same batches in the same order for every initialization
            args.epochs,
            verbose=1 if sys.stdout.isatty() else 2,
            on_epoch_end=keras.callbacks.CallbackList([curves, probe]).on_epoch_end,
            backup_dir=run.backup_dir_for(name),  # written after the epoch's points
        )
        history = epoch_history(run.curves, ("train", "dev"), prefix=name)
        return {
            "train_error": history["train"]["error"][-1],
            "dev_error": history["dev"]["error"][-1],
            "epoch1_loss": history["train"]["loss"][0],
            "first_layer_gradient_norm_at_init": at_init[probe.dense[0].name],
            "last_layer_gradient_norm_at_init": at_init[probe.dense[-1].name],
        }

    results = variants.train_variants(run, inits, train)
    variants.finish_with_table(run, summary_table(results), results, step=args.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
