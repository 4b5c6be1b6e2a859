"""Initialization: zeros vs large random vs He on a deep plain network.

Course 2, Week 1 ("Vanishing / exploding gradients", "Weight initialization
for deep networks") and the initialization assignment. The same deep ReLU
network (Flatten -> 6 x Dense(128, relu) -> Dense(10)) trains on a slice of
Fashion-MNIST three times, from three initializations of every kernel:

    zeros:  W[l] = 0                                   (b[l] = 0 throughout)
    large:  W[l] = randn(n[l], n[l-1]) * 10            the assignment's "large random"
    he:     W[l] = randn(n[l], n[l-1]) * sqrt(2 / n[l-1])

What the lesson predicts, and what the logs show:

- zeros never breaks symmetry: every hidden unit computes the same thing
  (here, with ReLU, nothing at all), the hidden layers' gradients are
  exactly 0, only the output bias learns, and the error stays at ~90%
  (the class prior).
- large random explodes: activations grow by ~10 sqrt(n/2) per layer, the
  logits are huge, softmax saturates, the loss and the gradients are some
  twelve orders of magnitude above He's, and Adam's small steps barely
  move weights of size 10: training hardly recovers.
- He keeps the scale of activations and gradients about equal from layer
  to layer, and trains.

Run:
    python -m experiments.initialization                     # ~1-3 min on 2 CPU cores
    python -m experiments.initialization --profile full      # 20,000 examples, 15 epochs
    python -m experiments.initialization --large-scale 3 --depth 10
    tensorboard --logdir logs/initialization

In TensorBoard:
- Scalars / Time Series: "epoch_loss" and "epoch_accuracy" overlay the
  runs <init>/train and <init>/validation; "epoch_gradient_norm" is the mean
  global gradient norm of each epoch (log-scale the axis to compare).
  Under <init>/layers: "gradient_norm/<layer>" (the gradient norm of each
  kernel on a fixed probe batch, epoch 0 = before training: of the same
  order in every layer for He, exactly 0 for zeros, ~1e12 for large) and
  "symmetry/<layer>" (the largest difference between two units' incoming
  weights: 0 means all units are identical).
- Histograms / Distributions: "weights/<layer>", "gradients/<layer>" and
  "activations/<layer>" per initialization (the large random activations
  spread over many orders of magnitude; the zeros ones are a spike at 0).
- Text: "summary", the final table.
"""

from __future__ import annotations

import sys

import keras
import numpy as np
import tensorflow as tf

from kerasdl.harness.run import experiment_parser, fail, parse_subset, start_run
from kerasdl.harness.variants import add_profile_flags, apply_profile, finish_with_table, train_variants
from kerasdl.nn.initializers import He
from kerasdl.training.backup import BackupStore
from kerasdl.training.distribute import make_strategy
from kerasdl.training.loop import TrainingLoop
from pipelines.sources import SourceCorruptError, SourceMissingError
from pipelines.subsets import small_train_dev

EXPERIMENT = "initialization"
INITIALIZATIONS = ("zeros", "large", "he")
PROFILES = {  # train_size, dev_size, epochs
    "default": (5000, 2000, 5),
    "full": (20000, 5000, 15),
}
PROBE_SIZE = 256  # examples in the fixed batch the per-layer gradients are measured on


def build_parser():
    parser = experiment_parser(EXPERIMENT, __doc__)
    add_profile_flags(parser, PROFILES, epochs_help="epochs per initialization")
    parser.add_argument("--inits", default=",".join(INITIALIZATIONS),
                        help=f"comma-separated subset of {INITIALIZATIONS}")  # fmt: skip
    parser.add_argument("--depth", type=int, default=6, help="number of hidden ReLU layers")
    parser.add_argument("--width", type=int, default=128, help="units in each hidden layer")
    parser.add_argument("--large-scale", type=float, default=10.0,
                        help="the multiplier of randn for 'large' (the assignment uses 10)")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=128, help="mini-batch size")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="Adam's learning rate")
    parser.add_argument("--data-dir", default=None, help="folder with the Fashion-MNIST IDX files")
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


class LayerProbe:
    """Per-layer weights, gradients and activations on one fixed batch, to TensorBoard."""

    def __init__(self, model: keras.Model, loss, x: tf.Tensor, y: tf.Tensor, writer):
        self.model, self.loss, self.x, self.y, self.writer = model, loss, x, y, writer
        self.dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
        self.activations = keras.Model(model.inputs, [layer.output for layer in self.dense])
        self.first_norms: dict[str, float] | None = None

    @tf.function
    def _measure(self):
        with tf.GradientTape() as tape:
            outputs = self.activations(self.x, training=False)
            loss = self.loss(self.y, outputs[-1])
        kernels = [layer.kernel for layer in self.dense]
        return tape.gradient(loss, kernels), outputs

    def __call__(self, step: int, write: bool = True) -> dict[str, float]:
        """Measures (and with `write`, logs) the probe at `step`; returns each kernel's gradient norm."""
        grads, outputs = self._measure()
        norms = {}
        if not write:
            norms = {layer.name: float(tf.norm(grad)) for layer, grad in zip(self.dense, grads, strict=True)}
            self.first_norms = self.first_norms or norms
            return norms
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
        if self.first_norms is None:
            self.first_norms = norms
        return norms


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    inits = parse_subset("--inits", args.inits, INITIALIZATIONS)
    apply_profile(args, PROFILES)
    if args.epochs < 1 or args.depth < 1 or args.width < 1 or args.large_scale <= 0:
        fail("--epochs, --depth and --width must be >= 1 and --large-scale > 0")
    try:
        data = small_train_dev(args.train_size, args.dev_size, args.batch_size, args.seed, args.data_dir)
    except (SourceMissingError, SourceCorruptError, ValueError) as error:
        fail(str(error))
    strategy = make_strategy(args.strategy)
    run = start_run(EXPERIMENT, vars(args))
    print(f"Run directory: {run.dir}\nm = {data.m} training examples; initializations: {', '.join(inits)}")
    probe_x, probe_y = next(iter(data.train_eval.unbatch().batch(PROBE_SIZE)))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    first_losses = run.saved_json(FIRST_LOSSES)

    def train(name: str) -> dict:
        backup_dir = run.backup_dir / name
        started = run.resumed and BackupStore(backup_dir).latest_position() is not None
        keras.utils.set_random_seed(args.seed)  # the same batches for every initialization
        with strategy.scope():
            model = build_model(
                name, data.input_shape, data.num_classes, args.depth, args.width, args.large_scale
            )
            optimizer = keras.optimizers.Adam(args.learning_rate)
        probe = LayerProbe(model, loss, probe_x, probe_y, run.writer(f"{name}/layers"))
        probe(step=0, write=not started)  # on a resume the points of step 0 are already there
        loop = TrainingLoop(model, optimizer, loss, [keras.metrics.SparseCategoricalAccuracy("accuracy")],
                            strategy=strategy)  # fmt: skip
        history = loop.fit(
            data.fresh_train(),  # the same batches in the same order for every initialization
            args.epochs,
            validation_data=data.dev,
            run=run,
            log_prefix=name,
            verbose=1 if sys.stdout.isatty() else 2,
            on_epoch_end=lambda epoch, logs, probe=probe, name=name: _after_epoch(
                run, probe, name, epoch, logs, first_losses
            ),
            backup_dir=backup_dir,
        )
        del history  # after a resume it holds only the epochs trained since
        first_layer, last_layer = probe.dense[0].name, probe.dense[-1].name
        return {
            # Measured after training in inference mode, not the running average of the last epoch.
            "train_error": 1 - loop.evaluate(data.train_eval)["accuracy"],
            "dev_error": 1 - loop.evaluate(data.dev)["accuracy"],  # = the last epoch's val_accuracy
            "initial_loss": first_losses[name],
            "first_layer_gradient_norm_at_init": probe.first_norms[first_layer],
            "last_layer_gradient_norm_at_init": probe.first_norms[last_layer],
        }

    results = train_variants(run, inits, train)  # --resume skips the finished ones
    header = (
        "| init | train error | dev error | epoch-1 loss | grad norm at init, first layer | last layer |\n"
        "|---|---|---|---|---|---|\n"
    )
    rows = "".join(
        f"| {n} | {r['train_error']:.3f} | {r['dev_error']:.3f} | {r['initial_loss']:.3g} | "
        f"{r['first_layer_gradient_norm_at_init']:.3g} | {r['last_layer_gradient_norm_at_init']:.3g} |\n"
        for n, r in results.items()
    )
    finish_with_table(run, header + rows, step=args.epochs)
    return 0


FIRST_LOSSES = "epoch1_loss.json"  # each variant's epoch-1 loss, kept for the table across a resume


def _after_epoch(run, probe, name: str, epoch: int, logs: dict, first_losses: dict) -> None:
    probe(step=epoch + 1)
    if epoch == 0:
        first_losses[name] = logs["loss"]
        run.save_json(FIRST_LOSSES, first_losses)


if __name__ == "__main__":
    sys.exit(main())
