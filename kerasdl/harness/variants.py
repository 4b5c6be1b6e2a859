"""Variants of one network, trained one after another from the same start and compared.

Course 2's experiments (initialization, regularization, optimization
algorithms, batch norm) train a small network several ways on the same
Fashion-MNIST subset and overlay the curves in TensorBoard. This module is
the part they share:

- `add_profile_flags`, `apply_profile`, `load_profile_data`: `--profile`
  picks the subset's size and the epochs from a table of (train_size,
  dev_size, epochs); `--train-size`, `--dev-size` and `--epochs` override
  it, and `--batch-size` and `--data-dir` complete what `load_profile_data`
  loads (`pipelines.subsets.small_train_dev`, or one `error:` line).
- `add_network_flags`: `--width` and `--depth` of the variants' network.
- `start_variants`: starts the run (a resume may change `--epochs` only)
  and its distribution strategy.
- `train_variants`: trains each variant in turn, each one a phase of the
  run (`Run.once`), so `--resume` skips the variants that had finished.
- `fit_variant`: one variant's `fit` from the same seed, with its curves in
  `<variant>/train`, `<variant>/dev` and `<variant>/gaps`
  (`kerasdl.harness.curves`) and a backup in `<run>/backup/<variant>/`;
  it returns the variant's whole history, read back from the run.
- `finish_with_table`: finishes the run with the final table, and prints it.

Example:

    PROFILES = {"default": (5000, 2000, 10), "full": (20000, 5000, 20)}  # train_size, dev_size, epochs
    add_profile_flags(parser, PROFILES, batch_size=64)
    ...
    apply_profile(args, PROFILES)
    data = load_profile_data(args)

    def train(variant):
        history = fit_variant(run, variant, data, make_model, make_optimizer,
                              epochs=args.epochs, seed=args.seed, strategy=strategy)
        return {"dev_error": history["dev"]["error"][-1]}

    results = train_variants(run, variants, train)
    finish_with_table(run, table_of(results), results, step=args.epochs)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import keras
import tensorflow as tf

from kerasdl.harness.cli import add_batch_size_flag, add_data_dir_flag, check_at_least, load_or_fail
from kerasdl.harness.curves import EpochCurves, epoch_history
from kerasdl.harness.run import Run, start_run
from kerasdl.training.distribute import make_strategy
from pipelines.subsets import SmallData, small_train_dev

# name -> (train_size, dev_size, epochs, and whatever else the script's profiles fix)
Profiles = Mapping[str, tuple[int, ...]]


def add_profile_flags(
    parser: argparse.ArgumentParser,
    profiles: Profiles,
    epochs_help: str = "epochs per variant",
    batch_size: int = 128,
    batch_size_help: str = "mini-batch size",
) -> None:
    """Adds the flags of the data and its epochs, which `apply_profile` and `load_profile_data` read.

    `--profile` (default "default") and `--train-size`, `--dev-size`,
    `--epochs` overriding it; `--batch-size` (default `batch_size`) and
    `--data-dir`.
    """
    described = "; ".join(
        f"{name}: {train_size:,} training examples, {epochs} epochs"
        for name, (train_size, _, epochs, *_) in profiles.items()
    )
    parser.add_argument("--profile", choices=sorted(profiles), default="default", help=described)
    parser.add_argument(
        "--train-size", type=int, default=None, help="training examples (overrides the profile)"
    )
    parser.add_argument("--dev-size", type=int, default=None, help="dev examples (overrides the profile)")
    parser.add_argument("--epochs", type=int, default=None, help=f"{epochs_help} (overrides the profile)")
    add_batch_size_flag(parser, batch_size, help=batch_size_help)
    add_data_dir_flag(parser)


def add_network_flags(parser: argparse.ArgumentParser, width: int, depth: int | None = None) -> None:
    """Adds `--width` (units in each hidden layer) and, unless the depth is fixed, `--depth`."""
    if depth is not None:
        parser.add_argument("--depth", type=int, default=depth, help="number of hidden layers")
    parser.add_argument("--width", type=int, default=width, help="units in each hidden layer")


def apply_profile(args: argparse.Namespace, profiles: Profiles) -> None:
    """Fills `args.train_size`, `args.dev_size` and `args.epochs` from the profile where not given.

    `fail`s with one line unless they and `--batch-size` are at least 1.
    """
    for name, value in zip(("train_size", "dev_size", "epochs"), profiles[args.profile], strict=False):
        if getattr(args, name) is None:
            setattr(args, name, value)
    check_at_least(args, 1, "train_size", "dev_size", "epochs", "batch_size")


def load_profile_data(args: argparse.Namespace, batch_size: int | None = None) -> SmallData:
    """The Fashion-MNIST subset the flags name (`pipelines.subsets.small_train_dev`), or one error line.

    Args:
        args: the parsed flags, after `apply_profile`.
        batch_size: the training batches' size, if not `--batch-size`
            (e.g. `args.train_size` for batch gradient descent).
    """
    return load_or_fail(
        small_train_dev,
        args.train_size,
        args.dev_size,
        batch_size or args.batch_size,
        args.seed,
        args.data_dir,
    )


def start_variants(
    experiment: str, args: argparse.Namespace, data: SmallData, names: Iterable[str]
) -> tuple[Run, tf.distribute.Strategy]:
    """Starts the run and its `tf.distribute` strategy (`--strategy`); prints where it goes, what it trains.

    A `--resume` may change `--epochs` (to train the variants longer), no other flag.
    """
    run = start_run(experiment, vars(args), safe_to_change={"epochs"})
    print(f"Run directory: {run.dir}\nm = {data.m} training examples; variants: {', '.join(names)}")
    return run, make_strategy(args.strategy)


def train_variants(
    run: Run,
    names: Iterable[str],
    train: Callable[[str], dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Calls `train(name)` for each variant, each as the run phase `variant/<name>`.

    `train` returns the variant's results (JSON: numbers, lists, strings).
    On `--resume`, a variant that had finished returns its saved results
    without training; one interrupted mid-way continues from its backup.
    (Each variant trains on its own `fresh_train()` copy of the data, so
    skipping one changes nothing for the next.)

    Returns:
        Variant name -> the dict `train` returned, in the order of `names`.
    """
    results = {}
    for name in names:
        print(f"\n== {name}", flush=True)
        results[name] = run.once(f"variant/{name}", train, name)
    return results


def fit_variant(
    run: Run,
    name: str,
    data,
    make_model: Callable[[], keras.Model],
    make_optimizer: Callable[[], keras.optimizers.Optimizer],
    *,
    epochs: int,
    seed: int,
    strategy: tf.distribute.Strategy,
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> dict:
    """Trains one variant on `data.fresh_train()`, logs its curves and returns its whole history.

    The global seed is set to `seed` first, so every variant starts from the
    same initial weights, and a fresh copy of the training data gives every
    variant the same batches in the same order. The model and optimizer are
    made in `strategy`'s scope and compiled with sparse categorical
    cross-entropy and accuracy. After every epoch the loss and error on
    `data.train_eval` and `data.dev` are logged (`EpochCurves`, prefix
    `name`). A NaN loss stops the variant quietly (it is a result: it
    diverged); the backup lets `--resume` continue it.

    Args:
        run: the run.
        name: the variant's name: its TensorBoard runs and backup folder.
        data: a `pipelines.subsets.SmallData` (`fresh_train()`, `train_eval`, `dev`).
        make_model: returns the variant's network, softmax outputs.
        make_optimizer: returns its optimizer.
        epochs: epochs to train.
        seed: the global seed set before the model is made.
        strategy: the `tf.distribute` strategy.
        callbacks: more callbacks, run after the curves' and before the backup.

    Returns:
        `kerasdl.harness.curves.epoch_history` of the variant: every epoch,
        also those trained before a resume.
    """
    keras.utils.set_random_seed(seed)
    with strategy.scope():
        model = make_model()
        model.compile(
            optimizer=make_optimizer(), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
    curves = EpochCurves(run.curves, {"train": data.train_eval, "dev": data.dev}, prefix=name)
    train = data.fresh_train()  # the same batch order in every variant
    model.fit(
        train,
        epochs=epochs,
        shuffle=False,  # the dataset reshuffles itself every epoch
        callbacks=[
            curves,
            *callbacks,
            *run.resume_callbacks(train, name=name, on_nan="stop"),
        ],  # backups last
        verbose=1 if sys.stdout.isatty() else 2,
    )
    return epoch_history(run.curves, ("train", "dev"), prefix=name)


def finish_with_table(run: Run, table: str, results: Mapping[str, Mapping[str, Any]], step: int) -> None:
    """Finishes the run with the final Markdown `table` as its summary, and prints it.

    `results` (variant -> its results) become the results' details; each
    variant's numeric results become metrics named `<variant>/<name>`.
    """
    metrics = {
        f"{variant}/{key}": value
        for variant, figures in results.items()
        for key, value in figures.items()
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool))
    }
    run.finish(metrics=metrics, details={"variants": dict(results)}, summary=table, step=step, echo=True)
