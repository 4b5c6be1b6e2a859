"""Hyperparameter search: random, on the right scale, coarse to fine, in parallel.

Course 2, Week 3 ("Tuning process", "Using an appropriate scale to pick
hyperparameters", "Hyperparameters tuning in practice: pandas vs caviar").
The lesson's three rules, as code:

1. Random points, not a grid: with a grid of 5 x 5 you try only 5 values of
   the hyperparameter that matters most; 25 random points try 25.
2. The right scale: the learning rate is sampled uniformly in its exponent,

       r ~ U[log10(low), log10(high)],   alpha = 10^r

   and Adam's beta1 through 1 - beta1, which is what its sensitivity
   depends on (beta1 = 0.9 averages ~10 steps, 0.999 ~1000):

       r ~ U[-3, -1],   beta1 = 1 - 10^r        (0.9 ... 0.999)

   Hidden units and the number of layers are sampled uniformly.
3. Coarse to fine: after a coarse round over wide ranges, zoom into the
   region around the best trial and sample again, densely.

Trials run in parallel worker processes (the "caviar" strategy, on a small
scale), each one a small Fashion-MNIST network trained with
`kerasdl.training.TrainingLoop`, and each logged to TensorBoard's HParams
dashboard as one session. The CPU cores are split between the workers; each
worker builds its trials under --strategy (on GPUs, every worker sees every
GPU: use --workers 1 with a multi-GPU strategy). Each trial is a phase of the
run (`trial/<stage>-<n>`): `--resume` keeps the trials that had finished and
continues the others from their backups.

Run:
    python -m experiments.hparam_search                      # default profile, 2 workers
    python -m experiments.hparam_search --profile full       # more data, epochs and trials
    python -m experiments.hparam_search --workers 1 --coarse-trials 4 --fine-trials 2
    python -m experiments.hparam_search --resume             # continue a stopped search
    tensorboard --logdir logs/hparam_search

In TensorBoard: the HPARAMS tab lists every trial (stage, learning_rate,
beta1, units, layers) with its dev_error and train_error; "Parallel
coordinates" shows which learning rates win, "Scatter plot matrix" plots
dev_error against log learning rate. Scalars "loss" and "error" show each
trial's curves (runs trials/<stage>-<n>/train and /dev), "gap" dev minus
train error (runs trials/<stage>-<n>/gaps). Text "summary" has the ranked
table and the fine-stage ranges.

Results (results.json): details["trials"], every trial ranked by dev error
(its hyperparameters, status "ok" or "diverged", train_error, dev_error and
its per-epoch history), details["coarse_space"] and ["fine_space"];
metrics "<trial>/dev_error", "<trial>/train_error" and "best_dev_error".
"""

from __future__ import annotations

import concurrent.futures
import functools
import math
import multiprocessing
import multiprocessing.connection
import os
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from kerasdl.harness import cli, variants
from kerasdl.harness.curves import CurveLog, EpochCurves, epoch_history
from kerasdl.harness.run import set_seeds, start_run
from kerasdl.nn.initializers import He
from kerasdl.training.distribute import make_strategy
from kerasdl.training.loop import TrainingLoop
from pipelines.sources import fashion_mnist
from pipelines.subsets import small_train_dev

EXPERIMENT = "hparam_search"
TRIALS = "trials"  # <run>/trials/<trial>/: each trial's HParams session and curves
PROFILES = {  # train_size, dev_size, epochs, coarse trials, fine trials
    "default": (3000, 2000, 3, 6, 4),
    "full": (20000, 5000, 8, 20, 10),
}
HPARAMS = ("stage", "learning_rate", "beta1", "units", "layers")
# Flags a resumed search may change: parallelism changes neither the data nor the models. (Not --epochs: the
# fine stage is sampled around the best coarse trial, so other coarse results would mean other fine trials.)
SAFE_TO_CHANGE = {"workers"}


@dataclass(frozen=True)
class SearchSpace:
    """Ranges to sample from: log10 of the learning rate, r of beta1 = 1 - 10^r, units, layers."""

    log_lr: tuple[float, float]
    beta_r: tuple[float, float]
    units: tuple[int, int]
    layers: tuple[int, int]

    def sample(self, rng: np.random.Generator) -> dict:
        """One random point, each hyperparameter on its own scale."""
        return {
            "learning_rate": float(10 ** rng.uniform(*self.log_lr)),
            "beta1": float(1 - 10 ** rng.uniform(*self.beta_r)),
            "units": int(rng.integers(self.units[0], self.units[1] + 1)),
            "layers": int(rng.integers(self.layers[0], self.layers[1] + 1)),
        }

    def around(self, best: dict, shrink: float = 0.25) -> SearchSpace:
        """The fine region: `shrink` times each range's width, centred on `best`, kept inside this space."""

        def zoom(low, high, centre, integer=False):
            half = (high - low) * shrink / 2
            new_low, new_high = max(low, centre - half), min(high, centre + half)
            if integer:  # rounded, not floor/ceil, which would widen a narrow integer range again
                return int(round(new_low)), int(round(new_high))
            return float(new_low), float(new_high)

        return SearchSpace(
            log_lr=zoom(*self.log_lr, math.log10(best["learning_rate"])),
            beta_r=zoom(*self.beta_r, math.log10(1 - best["beta1"])),
            units=zoom(*self.units, best["units"], integer=True),
            layers=zoom(*self.layers, best["layers"], integer=True),
        )


def _pair(text: str, kind=float) -> tuple:
    parts = [kind(float(part)) for part in text.split(",")]
    if len(parts) != 2 or parts[0] > parts[1]:
        raise ValueError(f"expected 'low,high' with low <= high. Received: {text!r}")
    return tuple(parts)


def build_parser():
    parser = cli.experiment_parser(EXPERIMENT, __doc__)
    variants.add_profile_flags(
        parser, PROFILES, epochs_help="epochs per trial", batch_size_help="mini-batch size of every trial"
    )
    parser.add_argument(
        "--coarse-trials",
        type=int,
        default=None,
        help="random trials over the wide ranges (overrides the profile)",
    )
    parser.add_argument(
        "--fine-trials",
        type=int,
        default=None,
        help="random trials around the best coarse trial (overrides the profile)",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="trials trained at the same time, one process each"
    )
    parser.add_argument("--lr-range", default="1e-4,1e-1", help="learning rate range, sampled on a log scale")
    parser.add_argument("--beta-r-range", default="-3,-1",
                        help="range of r in beta1 = 1 - 10^r (-3,-1 is beta1 in 0.9..0.999)")  # fmt: skip
    parser.add_argument("--units-range", default="16,256", help="hidden units per layer, sampled uniformly")
    parser.add_argument("--layers-range", default="1,3", help="number of hidden layers, sampled uniformly")
    return parser


# ----------------------------------------------------------------------------- one trial, in a worker


def _init_worker(threads: int) -> None:
    """Splits the cores between the workers before TensorFlow starts, and ends the worker with its parent.

    A worker otherwise outlives a main process that was killed: it would go
    on training (and writing) a trial that the resumed run trains again.
    """
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()


def _exit_with(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])  # ready once the parent process has ended
    os._exit(1)


class _Writers:
    """`tf.summary` writers for the subfolders of one trial's folder (the worker has no `Run`)."""

    def __init__(self, directory: str):
        self.directory = Path(directory)
        self._writers: dict = {}

    def __call__(self, subdir: str = ""):
        if subdir not in self._writers:
            self._writers[subdir] = tf.summary.create_file_writer(str(self.directory / subdir))
        return self._writers[subdir]

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()


def run_trial(trial: dict, settings: dict, trial_dir: str, backup_dir: str) -> dict:
    """Trains one configuration; returns the trial with its status and errors.

    Runs in a worker process. Its per-epoch curves go to `trial_dir` in the
    harness's tag scheme ("loss" and "error" in `train/` and `dev/`, "gap" in
    `gaps/`, kept in `trial_dir/curves.json`), and the loop backs up into
    `backup_dir` after every epoch, so a trial stopped mid-way continues
    where it stopped. Its HParams session (the hyperparameters, then
    dev_error and train_error) is written in `trial_dir` once it is done.
    """
    set_seeds(trial["seed"])
    data = small_train_dev(settings["train_size"], settings["dev_size"], settings["batch_size"],
                           settings["seed"], settings["data_dir"])  # fmt: skip
    strategy = make_strategy(settings["strategy"])
    with strategy.scope():
        inputs = keras.Input(data.input_shape)
        x = keras.layers.Flatten()(inputs)
        for index in range(trial["layers"]):
            initializer = He(seed=trial["seed"] + index)
            x = keras.layers.Dense(trial["units"], activation="relu", kernel_initializer=initializer)(x)
        model = keras.Model(inputs, keras.layers.Dense(data.num_classes)(x))
        optimizer = keras.optimizers.Adam(trial["learning_rate"], beta_1=trial["beta1"])
    loop = TrainingLoop(model, optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                        [keras.metrics.SparseCategoricalAccuracy("accuracy")], strategy=strategy)  # fmt: skip
    writers = _Writers(trial_dir)
    curves = CurveLog(trial_dir, writers, resume=True)  # a trial continued after a stop keeps its points
    epoch_curves = EpochCurves(curves, {"train": data.train_eval, "dev": data.dev}, evaluator=loop)
    result = {**trial, "status": "ok"}
    try:
        loop.fit(data.fresh_train(), settings["epochs"], verbose=0, on_epoch_end=epoch_curves.on_epoch_end,
                 backup_dir=backup_dir)  # fmt: skip
    except FloatingPointError as error:  # a learning rate too large diverges: a result, not a crash
        result.update(status="diverged", message=str(error))
    history = epoch_history(curves, ("train", "dev"))
    ok = result["status"] == "ok"
    result.update(
        train_error=history["train"]["error"][-1] if ok else None,
        dev_error=history["dev"]["error"][-1] if ok else None,
        history=history,
    )
    with writers().as_default():
        hp.hparams({key: trial[key] for key in HPARAMS}, trial_id=trial["name"])
        if ok:
            tf.summary.scalar("dev_error", result["dev_error"], step=settings["epochs"])
            tf.summary.scalar("train_error", result["train_error"], step=settings["epochs"])
    writers.close()
    return result


# ----------------------------------------------------------------------------- the search


def sample_trials(stage: str, space: SearchSpace, count: int, rng: np.random.Generator, first_seed: int):
    """`count` random trials of `stage`, named `<stage>-<n>`, each with its own seed."""
    return [
        {"stage": stage, "name": f"{stage}-{n:02d}", "seed": first_seed + n, **space.sample(rng)}
        for n in range(count)
    ]


def train_in_pool(pool, settings: dict, run, pending):
    """Trains the pending (phase, trial) pairs in the pool; yields (phase, result) as each completes."""
    futures = {}
    for phase, trial in pending:
        trial_dir, backup_dir = run.dir / TRIALS / trial["name"], run.backup_dir_for(trial["name"])
        futures[pool.submit(run_trial, trial, settings, str(trial_dir), str(backup_dir))] = phase
    for future in concurrent.futures.as_completed(futures):
        result = future.result()
        error = "diverged" if result["dev_error"] is None else f"dev error {result['dev_error']:.3f}"
        print(f"  {result['name']}: lr {result['learning_rate']:.2e}, beta1 {result['beta1']:.4f}, "
              f"{result['layers']} x {result['units']} units -> {error}", flush=True)  # fmt: skip
        yield futures[future], result


def train_trials(run, trials: list[dict], train) -> list[dict]:
    """Each trial as the run phase `trial/<name>`: finished ones are kept, the others trained by `train`."""
    done = run.once_each({f"trial/{trial['name']}": trial for trial in trials}, train)
    return list(done.values())


def write_hparams_config(run, space: SearchSpace) -> None:
    """The HParams dashboard's column definitions, at the run's root."""
    hparams = [
        hp.HParam("stage", hp.Discrete(["coarse", "fine"])),
        hp.HParam("learning_rate", hp.RealInterval(10 ** space.log_lr[0], 10 ** space.log_lr[1])),
        hp.HParam("beta1", hp.RealInterval(1 - 10 ** space.beta_r[1], 1 - 10 ** space.beta_r[0])),
        hp.HParam("units", hp.IntInterval(*space.units)),
        hp.HParam("layers", hp.IntInterval(*space.layers)),
    ]
    metrics = [
        hp.Metric("dev_error", display_name="dev error"),
        hp.Metric("train_error", display_name="train error"),
        hp.Metric("loss", group="dev", display_name="dev loss"),
    ]
    with run.writer().as_default():
        hp.hparams_config(hparams=hparams, metrics=metrics)
        tf.summary.flush()


def ranking_table(ranked: list[dict], fine_space: SearchSpace | None) -> str:
    """The trials, best first, as Markdown, with the fine stage's ranges below."""
    header = (
        "| rank | trial | learning rate | beta1 | layers x units | train error | dev error |\n"
        "|---|---|---|---|---|---|---|\n"
    )
    rows = "".join(
        f"| {i} | {r['name']} | {r['learning_rate']:.2e} | {r['beta1']:.4f} | {r['layers']} x {r['units']} | "
        + (
            "diverged | diverged |"
            if r["dev_error"] is None
            else f"{r['train_error']:.3f} | {r['dev_error']:.3f} |"
        )
        + "\n"
        for i, r in enumerate(ranked, start=1)
    )
    ranges = "" if fine_space is None else f"\n\nFine ranges: {asdict(fine_space)}"
    return header + rows + ranges


def parse_args(argv) -> tuple:
    """The command line with the profile filled in, and the coarse search space; `fail`s on bad values."""
    args = build_parser().parse_args(argv)
    variants.apply_profile(args, PROFILES)
    *_, coarse, fine = PROFILES[args.profile]
    args.coarse_trials = coarse if args.coarse_trials is None else args.coarse_trials
    args.fine_trials = fine if args.fine_trials is None else args.fine_trials
    try:
        space = SearchSpace(
            log_lr=tuple(math.log10(v) for v in _pair(args.lr_range)),
            beta_r=_pair(args.beta_r_range),
            units=_pair(args.units_range, int),
            layers=_pair(args.layers_range, int),
        )
    except ValueError as error:
        cli.fail(f"bad range: {error}")
    cli.check_at_least(args, 1, "coarse_trials", "workers")
    cli.check_at_least(args, 0, "fine_trials")
    if space.beta_r[1] >= 0 or space.units[0] < 1 or space.layers[0] < 1:
        cli.fail("--beta-r-range must be below 0 (beta1 < 1); units and layers must be >= 1")
    return args, space


def search(run, args, space: SearchSpace) -> tuple[list[dict], SearchSpace | None]:
    """The coarse stage, then the fine stage around its best trial; returns every trial and the fine space."""
    settings = {
        key: getattr(args, key)
        for key in ("train_size", "dev_size", "epochs", "batch_size", "data_dir", "seed", "strategy")
    }
    rng = np.random.default_rng(args.seed)  # the same trials, in the same order, on every resume
    threads = max(1, (os.cpu_count() or 1) // args.workers)
    context = multiprocessing.get_context("spawn")  # fresh TensorFlow per worker, no forked state
    with concurrent.futures.ProcessPoolExecutor(args.workers, mp_context=context, initializer=_init_worker,
                                                initargs=(threads,)) as pool:  # fmt: skip
        train = functools.partial(train_in_pool, pool, settings, run)
        print(f"\n== coarse: lr 10^{space.log_lr}, beta1 = 1 - 10^{space.beta_r}, units {space.units}, "
              f"layers {space.layers}")  # fmt: skip
        results = train_trials(run, sample_trials("coarse", space, args.coarse_trials, rng, args.seed), train)
        finished = [r for r in results if r["dev_error"] is not None]
        if not (finished and args.fine_trials):
            return results, None
        best = min(finished, key=lambda r: r["dev_error"])
        fine_space = space.around(best)
        low, high = fine_space.log_lr
        print(f"\n== fine, around {best['name']}: lr 10^({low:.2f}, {high:.2f}), "
              f"beta1 = 1 - 10^({fine_space.beta_r[0]:.2f}, {fine_space.beta_r[1]:.2f}), "
              f"units {fine_space.units}, layers {fine_space.layers}")  # fmt: skip
        fine = sample_trials("fine", fine_space, args.fine_trials, rng, args.seed + args.coarse_trials)
        return results + train_trials(run, fine, train), fine_space


def main(argv=None) -> int:
    args, space = parse_args(argv)
    cli.load_or_fail(fashion_mnist, "train", data_dir=args.data_dir)  # fail fast here, not in every worker
    run = start_run(EXPERIMENT, vars(args), safe_to_change=SAFE_TO_CHANGE)
    print(
        f"Run directory: {run.dir}\n"
        f"{args.workers} workers, {args.coarse_trials} coarse + {args.fine_trials} fine trials"
    )
    run.once("hparams_config", write_hparams_config, run, space)
    results, fine_space = search(run, args, space)

    ranked = sorted(results, key=lambda r: (r["dev_error"] is None, r["dev_error"] or 0.0))
    for trial in ranked:  # each worker kept its curves in its trial's folder
        run.curves.include(run.dir / TRIALS / trial["name"], f"{TRIALS}/{trial['name']}")
    metrics = {f"{r['name']}/{name}": r[name] for r in ranked for name in ("dev_error", "train_error")}
    metrics["best_dev_error"] = ranked[0]["dev_error"]
    run.finish(
        metrics=metrics,
        details={
            "trials": ranked,
            "coarse_space": asdict(space),
            "fine_space": None if fine_space is None else asdict(fine_space),
        },
        summary=ranking_table(ranked, fine_space),
        step=args.epochs,
        echo=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
