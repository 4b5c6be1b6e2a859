"""How the main job's costs grow with the training set: one line per doubling, 7,500 to 60,000 images.

For each size N (the first N Fashion-MNIST training images, standardized
with their own statistics), two costs of the main job (`experiments.mismatch`:
its CNN and batch size as the default profile trains them):

- epoch_seconds_<N>: one training epoch over the N images (the median of
  epochs 2-4 of a fresh model, so graph tracing is not counted and one slow
  epoch of a shared machine does not decide);
- label_issue_seconds_<N>: the label-issue pass over the N images as the
  job runs it on its train subset: out-of-fold probabilities from 3 folds
  of 2 epochs each, then `flag_label_issues` (cleanlab's label quality and
  estimate);
- *_growth_<N>: the cost at N divided by the cost at N / 2 (2.0 is
  linear growth).

The main job caps its label-issue subset at `--label-issue-train-size`
(6,000 by default), so in the job that pass costs the same whatever the
training set's size; these lines show what raising the cap costs.

Run:
    python benchmarks/scaling.py                        # about 8 minutes on 2 CPU cores
    python benchmarks/scaling.py --sizes 2000,4000      # a quick look

Output: one `name: value` line per figure.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from experiments.mismatch import BATCH_SIZE, LEARNING_RATE, compiled_model
from kerasdl.diagnostics.label_issues import flag_label_issues, out_of_fold_probabilities
from kerasdl.harness.cli import first
from kerasdl.harness.run import set_seeds
from kerasdl.training.benchmarking import print_figures
from kerasdl.training.timing import EpochSeconds
from pipelines.datasets import to_dataset
from pipelines.normalize import Standardizer
from pipelines.sources import fashion_mnist


def costs(size: int, seed: int) -> dict[str, float]:
    """Seconds of one epoch and of the label-issue pass over the first `size` training images."""
    source = first(fashion_mnist("train"), size)
    standardizer = Standardizer.fit(source.images)
    build = functools.partial(compiled_model, source.image_shape, source.num_classes, 32, LEARNING_RATE)
    set_seeds(seed)
    model, timer = build(), EpochSeconds()
    batches = to_dataset(source, BATCH_SIZE, shuffle=True, seed=seed, standardizer=standardizer)
    model.fit(batches, epochs=4, verbose=0, callbacks=[timer])
    started = time.perf_counter()
    probs = out_of_fold_probabilities(
        build, standardizer(source.images), source.labels, folds=3, epochs=2, batch_size=BATCH_SIZE, seed=seed
    )
    flag_label_issues(source.labels, probs)
    return {"epoch": float(np.median(timer.seconds[1:])), "label_issue": time.perf_counter() - started}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="7500,15000,30000,60000", help="training-set sizes, comma-separated"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights, folds and shuffles")
    args = parser.parse_args(argv)
    try:
        sizes = [int(part) for part in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes must be integers separated by commas. Received: {args.sizes!r}")
    if any(size < 6 for size in sizes):
        parser.error(f"--sizes must be at least 6 (3 folds of 2). Received: {args.sizes!r}")
    figures, previous = {}, None
    for size in sizes:
        measured = costs(size, args.seed)
        for name, seconds in measured.items():
            figures[f"{name}_seconds_{size}"] = f"{seconds:.2f}"
            if previous is not None:
                figures[f"{name}_growth_{size}"] = f"{seconds / previous[name]:.2f}"
        previous = measured
        print_figures(figures)
        figures = {}
    return 0


if __name__ == "__main__":
    sys.exit(main())
