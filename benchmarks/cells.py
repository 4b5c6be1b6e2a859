"""kerasdl recurrent cells vs the Keras built-ins: training-step time of the same sequence model.

Two models with the same sizes, data and optimizer (Keras SGD), which differ
only in the recurrent layer:

    Input [batch, steps, features] -> recurrent layer (units) -> Dense(10) -> softmax

once `keras.layers.RNN(kerasdl.nn.cells.LSTMCell(units))` and once
`keras.layers.LSTM(units)`; likewise the GRU (`GRUCell()` against
`keras.layers.GRU(reset_after=False)`, the lesson's form) and the basic RNN
(`SimpleRNNCell` against `keras.layers.SimpleRNN`). Each training step
(`train_on_batch` on a fixed batch) is timed in alternating blocks after a
warm-up (`kerasdl.training.benchmarking.alternating_blocks`; the ratio is the
median of the ratios of neighbouring blocks), with XLA off and on.

Goal: `lstm_cell_train_step_ratio_*` <= 1.5 (kerasdl / Keras).

What limits it: on a CPU, `keras.layers.LSTM` and `GRU` have no fused kernel
(their cuDNN path raises NotImplementedError there) and fall back to
`keras.layers.RNN` around Keras' own cell, a while loop calling the cell
once per step. The kerasdl cells run in the same loop and do the same
matrix products per step (one x<t> kernel, one a<t-1> recurrent kernel, one
split), so the ratio measures only the cells' element-wise ops. On a GPU the
built-in LSTM and GRU (reset_after=True only) switch to cuDNN, which runs
the whole sequence in one fused kernel; no Python-level cell in a while loop
can match that, and the ratio there is not this benchmark's goal. Numbers
from a loaded, shared machine are noisy; each ratio is measured within one
run.

Run:
    python benchmarks/cells.py                  # about 1.5 minutes on 2 CPU cores
    python benchmarks/cells.py --cells lstm --repeats 31 --units 256

Output: one `name: value` line per figure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import keras
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from kerasdl.nn import cells
from kerasdl.training.benchmarking import alternating_blocks, paired_ratio

PAIRS = {  # name: (the kerasdl layer, the Keras built-in computing the same function), given units
    "lstm": (lambda units: keras.layers.RNN(cells.LSTMCell(units)), lambda units: keras.layers.LSTM(units)),
    "gru": (
        lambda units: keras.layers.RNN(cells.GRUCell(units)),
        lambda units: keras.layers.GRU(units, reset_after=False),
    ),
    "simple_rnn": (
        lambda units: keras.layers.RNN(cells.SimpleRNNCell(units)),
        lambda units: keras.layers.SimpleRNN(units),
    ),
}


def build(recurrent_layer: keras.layers.Layer, steps: int, features: int) -> keras.Model:
    """The benchmark model around one recurrent layer."""
    inputs = keras.Input((steps, features))
    outputs = keras.layers.Dense(10, activation="softmax")(recurrent_layer(inputs))
    return keras.Model(inputs, outputs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--units", type=int, default=128, help="n_a, the size of the hidden state")
    parser.add_argument("--steps", type=int, default=32, help="T_x, time steps per sequence")
    parser.add_argument("--features", type=int, default=32, help="n_x, features per time step")
    parser.add_argument("--batch-size", type=int, default=64, help="sequences per training step")
    parser.add_argument("--calls", type=int, default=3, help="training steps per timed block")
    parser.add_argument("--repeats", type=int, default=15, help="timed blocks per model")
    parser.add_argument("--cells", default=",".join(PAIRS), help=f"comma-separated subset of {tuple(PAIRS)}")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch_size, args.steps, args.features)).astype("float32")
    y = rng.integers(0, 10, size=args.batch_size)
    for name in args.cells.split(","):
        ours, theirs = PAIRS[name]
        for jit in (False, True):
            steps = {}
            for kind, layer in (("kerasdl", ours), ("keras", theirs)):
                keras.utils.set_random_seed(0)
                model = build(layer(args.units), args.steps, args.features)
                model.compile(
                    optimizer=keras.optimizers.SGD(0.01),
                    loss="sparse_categorical_crossentropy",
                    jit_compile=jit,
                )
                steps[kind] = lambda model=model: model.train_on_batch(x, y)
            blocks = alternating_blocks(steps, calls=args.calls, repeats=args.repeats, warmup=3)
            suffix = "jit_on" if jit else "jit_off"
            print(f"{name}_cell_train_step_ms_kerasdl_{suffix}: {1000 * np.median(blocks['kerasdl']):.3f}")
            print(f"{name}_cell_train_step_ms_keras_{suffix}: {1000 * np.median(blocks['keras']):.3f}")
            ratio = paired_ratio(blocks["kerasdl"], blocks["keras"])
            print(f"{name}_cell_train_step_ratio_{suffix}: {ratio:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
