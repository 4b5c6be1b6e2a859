"""kerasdl Adam vs keras.optimizers.Adam: time of one update of the same variables.

Both optimizers update copies of the same variables (a 784-512-512-10 MLP's
kernels and biases, about 670,000 numbers) with the same fixed gradients.
One update is `apply_gradients` inside a `tf.function` (XLA off or on), the
way `fit` calls it; the two are timed in alternating blocks after a warm-up
(`kerasdl.training.benchmarking.alternating_blocks`; the ratio is the median of
the ratios of neighbouring blocks). Momentum and RMSprop are
measured the same way against Keras' SGD(momentum) and RMSprop.

Goal: `adam_update_ratio_*` <= 1.05 (kerasdl / Keras). Numbers from a loaded,
shared machine are noisy; each ratio is measured within one run.

Run:
    python benchmarks/optimizers.py             # about 1 minute on 2 CPU cores
    python benchmarks/optimizers.py --repeats 15

Output: one `name: value` line per figure.
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from kerasdl.nn import optimizers
from kerasdl.training import benchmarking

SHAPES = [(784, 512), (512,), (512, 512), (512,), (512, 10), (10,)]
PAIRS = {  # name: (kerasdl optimizer, the Keras built-in with the same update)
    "adam": (lambda: optimizers.Adam(1e-3), lambda: keras.optimizers.Adam(1e-3)),
    "momentum": (
        lambda: optimizers.Momentum(0.1, beta=0.9),
        lambda: keras.optimizers.SGD(0.01, momentum=0.9),
    ),
    "rmsprop": (lambda: optimizers.RMSprop(1e-3), lambda: keras.optimizers.RMSprop(1e-3)),
}


def update_function(optimizer, gradients, jit: bool):
    """A compiled `apply_gradients` on fresh variables; calling it returns the step count (blocks)."""
    variables = [keras.Variable(np.zeros(shape, "float32")) for shape in SHAPES]
    optimizer.build(variables)

    @tf.function(jit_compile=jit)
    def update():
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return optimizer.iterations

    return lambda: update().numpy()


def main(argv=None) -> int:
    parser = benchmarking.benchmark_parser(__doc__)
    benchmarking.add_block_flags(parser, calls=10, repeats=41, call="updates", subject="optimizer")
    parser.add_argument(
        "--optimizers", default=",".join(PAIRS), help=f"comma-separated subset of {tuple(PAIRS)}"
    )
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    gradients = [tf.constant(rng.normal(size=shape).astype("float32")) for shape in SHAPES]
    for name in args.optimizers.split(","):
        ours, theirs = PAIRS[name]
        for jit in (False, True):
            blocks = benchmarking.alternating_blocks(
                {
                    "kerasdl": update_function(ours(), gradients, jit),
                    "keras": update_function(theirs(), gradients, jit),
                },
                calls=args.calls,
                repeats=args.repeats,
                warmup=5,
            )
            benchmarking.print_comparison(
                f"{name}_update", blocks, unit="us", suffix="_jit_on" if jit else "_jit_off"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
