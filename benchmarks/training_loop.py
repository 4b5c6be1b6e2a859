"""The from-scratch training loop vs `model.fit`: seconds per epoch, as a ratio.

`kerasdl.training.loop.TrainingLoop` should cost no more than Keras' own loop
(goal: ratio <= 1.00). Both train the same model (a Fashion-MNIST MLP,
784-256-128-10, or a small CNN with --model cnn) on the same standardized
tf.data batches with the same optimizer and batch size, silently (verbose 0),
with XLA off and then on (`compile(jit_compile=...)` vs
`TrainingLoop(jit_compile=...)`). The first epoch of every call (tracing,
compiling, caching) is excluded; the two loops alternate in rounds (and in which goes
first) so that load on a shared machine hits both alike, and each figure is the median of
the per-epoch times. Numbers from a loaded machine are noisy: compare the
ratios, not the seconds.

Run:
    python benchmarks/training_loop.py                 # about 2-4 minutes on 2 CPU cores
    python benchmarks/training_loop.py --model cnn --rounds 3

Output, one `name: value` line per figure, for jit_off and jit_on:
    custom_loop_vs_fit_epoch_time_ratio_*      wall-clock seconds per epoch, loop / fit
    custom_loop_vs_fit_epoch_cpu_time_ratio_*  CPU seconds of this process per epoch, loop / fit
                                               (steadier than wall time when others load the machine)
    fit_epoch_seconds_*, custom_loop_epoch_seconds_*  the median wall seconds behind the first ratio
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from kerasdl.harness.cli import first
from kerasdl.harness.run import set_seeds
from kerasdl.training.benchmarking import benchmark_parser, print_figures
from kerasdl.training.loop import TrainingLoop
from pipelines.datasets import to_dataset
from pipelines.normalize import Standardizer
from pipelines.sources import fashion_mnist

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def build_model(kind: str) -> keras.Model:
    if kind == "mlp":
        layers = [keras.layers.Flatten(), keras.layers.Dense(256, activation="relu"),
                  keras.layers.Dense(128, activation="relu")]  # fmt: skip
    else:
        layers = [keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(),
                  keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
                  keras.layers.Flatten(), keras.layers.Dense(64, activation="relu")]  # fmt: skip
    return keras.Sequential([keras.Input((28, 28, 1)), *layers, keras.layers.Dense(10)])


def _clock() -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds over all its threads)."""
    return time.perf_counter(), time.process_time()


class _EpochEnds(keras.callbacks.Callback):
    def __init__(self, ends):
        super().__init__()
        self.ends = ends

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(_clock())


def epoch_durations(ends: list[tuple[float, float]], start: tuple[float, float]) -> np.ndarray:
    """Per-epoch (wall, CPU) durations from epoch-end clocks, the first (warm-up) epoch dropped."""
    return np.diff(np.array([start, *ends]), axis=0)[1:]


def measure(
    kind: str, dataset: tf.data.Dataset, jit: bool, rounds: int, epochs: int
) -> dict[str, np.ndarray]:
    """Median (wall, CPU) epoch seconds of model.fit and TrainingLoop, alternating in rounds."""
    set_seeds(0)
    fit_model = build_model(kind)
    fit_model.compile(keras.optimizers.Adam(1e-3), LOSS, jit_compile=jit)
    loop_model = build_model(kind)
    loop = TrainingLoop(loop_model, keras.optimizers.Adam(1e-3), LOSS, jit_compile=jit)
    durations: dict[str, list[np.ndarray]] = {"fit": [], "loop": []}

    def run_fit():
        ends: list[tuple[float, float]] = []
        start = _clock()
        fit_model.fit(dataset, epochs=epochs + 1, verbose=0, shuffle=False, callbacks=[_EpochEnds(ends)])
        durations["fit"].append(epoch_durations(ends, start))

    def run_loop():
        ends: list[tuple[float, float]] = []
        start = _clock()
        loop.fit(dataset, epochs=epochs + 1, verbose=0, on_epoch_end=lambda *_: ends.append(_clock()))
        durations["loop"].append(epoch_durations(ends, start))

    for round_index in range(rounds):  # alternate which goes first, so drifting load is shared
        for run in (run_fit, run_loop) if round_index % 2 == 0 else (run_loop, run_fit):
            run()
    return {name: np.median(np.concatenate(values), axis=0) for name, values in durations.items()}


def main(argv=None) -> int:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--model", choices=("mlp", "cnn"), default="mlp", help="the model both loops train")
    parser.add_argument("--images", type=int, default=20000, help="training images per epoch")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size of both loops")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds of fit and the custom loop")
    parser.add_argument(
        "--epochs", type=int, default=2, help="timed epochs per round (after one warm-up epoch)"
    )
    args = parser.parse_args(argv)
    source = first(fashion_mnist("train"), args.images)
    dataset = to_dataset(source, args.batch_size, standardizer=Standardizer.fit(source.images))
    for _ in dataset:  # fill the cache once, outside every measurement
        pass
    for jit in (False, True):
        suffix = "jit_on" if jit else "jit_off"
        medians = measure(args.model, dataset, jit, args.rounds, args.epochs)
        (fit_wall, fit_cpu), (loop_wall, loop_cpu) = medians["fit"], medians["loop"]
        print_figures(
            {
                f"fit_epoch_seconds_{suffix}": f"{fit_wall:.3f}",
                f"custom_loop_epoch_seconds_{suffix}": f"{loop_wall:.3f}",
                f"custom_loop_vs_fit_epoch_time_ratio_{suffix}": f"{loop_wall / fit_wall:.2f}",
                f"custom_loop_vs_fit_epoch_cpu_time_ratio_{suffix}": f"{loop_cpu / fit_cpu:.2f}",
            }
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
