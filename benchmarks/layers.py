"""kerasdl layers vs the Keras built-ins: training-step time of the same network.

Two models with the same architecture, sizes and optimizer (Keras SGD, so
only the layers differ):

    Flatten -> [Dense(no bias) -> BatchNorm -> ReLU -> dropout] x 2 -> Dense -> softmax

built once from kerasdl.nn.layers (Dense, BatchNorm, InvertedDropout, Softmax)
and once from keras.layers (Dense, BatchNormalization, Dropout, Softmax).
Each training step (`train_on_batch` on a fixed batch of 256 Fashion-MNIST
sized images) is timed in alternating blocks after a warm-up
(`kerasdl.training.benchmarking.alternating_blocks`; the ratio is the median of
the ratios of neighbouring blocks), with XLA off and on.

Goal: `layers_train_step_ratio_*` <= 1.10 (kerasdl / Keras). Numbers from a
loaded, shared machine are noisy; the ratio is measured within one run.

Run:
    python benchmarks/layers.py                 # about 1 minute on 2 CPU cores
    python benchmarks/layers.py --repeats 15 --width 1024

Output: one `name: value` line per figure.
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from kerasdl.nn import layers as kl
from kerasdl.training import benchmarking


def build(kind: str, width: int, keep_prob: float) -> keras.Model:
    """The benchmark network from kerasdl layers ("kerasdl") or Keras built-ins ("keras")."""
    ours = kind == "kerasdl"
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    for index in range(2):
        dense = kl.Dense if ours else keras.layers.Dense
        x = dense(width, use_bias=False)(x)
        x = kl.BatchNorm()(x) if ours else keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
        x = (
            kl.InvertedDropout(keep_prob, seed=index)(x)
            if ours
            else keras.layers.Dropout(1 - keep_prob, seed=index)(x)
        )
    x = (kl.Dense if ours else keras.layers.Dense)(10)(x)
    outputs = kl.Softmax()(x) if ours else keras.layers.Softmax()(x)
    return keras.Model(inputs, outputs, name=kind)


def main(argv=None) -> int:
    parser = benchmarking.benchmark_parser(__doc__)
    parser.add_argument("--width", type=int, default=512, help="units per hidden layer")
    parser.add_argument("--batch-size", type=int, default=256, help="images per training step")
    benchmarking.add_block_flags(parser, calls=5, repeats=31, call="training steps", subject="model")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch_size, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, size=args.batch_size)
    for jit in (False, True):
        steps = {}
        for kind in ("kerasdl", "keras"):
            keras.utils.set_random_seed(0)
            model = build(kind, args.width, keep_prob=0.8)
            model.compile(
                optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy", jit_compile=jit
            )
            steps[kind] = lambda model=model: model.train_on_batch(x, y)
        blocks = benchmarking.alternating_blocks(steps, calls=args.calls, repeats=args.repeats, warmup=5)
        benchmarking.print_comparison(
            "layers_train_step", blocks, unit="ms", suffix="_jit_on" if jit else "_jit_off"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
