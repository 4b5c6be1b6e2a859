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
GPU: use --workers 1 with a multi-GPU strategy).

Run:
    python -m experiments.hparam_search                      # ~2-4 min on 2 CPU cores, 2 workers
    python -m experiments.hparam_search --profile full       # more data, epochs and trials
    python -m experiments.hparam_search --workers 1 --coarse-trials 4 --fine-trials 2
    tensorboard --logdir logs/hparam_search

In TensorBoard: the HPARAMS tab lists every trial (stage, learning_rate,
beta1, units, layers) with its dev_error and train_error; "Parallel
coordinates" shows which learning rates win, "Scatter plot matrix" plots
dev_error against log learning rate. Scalars "epoch_loss" / "epoch_accuracy"
show each trial's curves (runs trials/<stage>-<n>/train and /validation).
Text "summary" has the ranked table and the fine-stage ranges.
"""

from __future__ import annotations

import concurrent.futures
import math
import multiprocessing
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from kerasdl.harness.run import experiment_parser, fail, start_run

EXPERIMENT = "hparam_search"
TRIAL_RESULT = "result.json"  # in trials/<trial>/: written when the trial is done, read on --resume
PROFILES = {  # train_size, dev_size, epochs, coarse trials, fine trials
    "default": (3000, 2000, 3, 6, 4),
    "full": (20000, 5000, 8, 20, 10),  # shown by --help as "more": see this table
}


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
    parser = experiment_parser(EXPERIMENT, __doc__)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="default",
                        help="default: 3,000 examples, 3 epochs, 6+4 trials; full: more")  # fmt: skip
    parser.add_argument(
        "--train-size", type=int, default=None, help="training examples (overrides the profile)"
    )
    parser.add_argument("--dev-size", type=int, default=None, help="dev examples (overrides the profile)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per trial (overrides the profile)")
    parser.add_argument("--coarse-trials", type=int, default=None, help="random trials over the wide ranges")
    parser.add_argument(
        "--fine-trials", type=int, default=None, help="random trials around the best coarse trial"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="trials trained at the same time, one process each"
    )
    parser.add_argument("--lr-range", default="1e-4,1e-1", help="learning rate range, sampled on a log scale")
    parser.add_argument("--beta-r-range", default="-3,-1",
                        help="range of r in beta1 = 1 - 10^r (-3,-1 is beta1 in 0.9..0.999)")  # fmt: skip
    parser.add_argument("--units-range", default="16,256", help="hidden units per layer, sampled uniformly")
    parser.add_argument("--layers-range", default="1,3", help="number of hidden layers, sampled uniformly")
    parser.add_argument("--batch-size", type=int, default=128, help="mini-batch size of every trial")
    parser.add_argument("--data-dir", default=None, help="folder with the Fashion-MNIST IDX files")
    return parser


# ----------------------------------------------------------------------------- one trial, in a worker


def _init_worker(threads: int) -> None:
    """Splits the cores between the workers before TensorFlow starts in this process."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def run_trial(trial: dict, settings: dict) -> dict:
    """Trains one configuration and logs it as an HParams session; returns its errors.

    Resumable: the trial backs up into `<run>/backup/<trial>/` after every
    epoch and saves `trials/<trial>/result.json` when done; on a resumed run a
    finished trial returns that result and an interrupted one continues from
    its backup.
    """
    import json

    import keras
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    from kerasdl.harness.run import Run, set_seeds
    from kerasdl.nn.initializers import He
    from kerasdl.training.backup import BackupStore
    from kerasdl.training.distribute import make_strategy
    from kerasdl.training.loop import TrainingLoop
    from pipelines.subsets import small_train_dev

    trial_dir = Path(settings["run_dir"]) / "trials" / trial["name"]
    backup_dir = Path(settings["backup_dir"]) / trial["name"]
    result_path = trial_dir / TRIAL_RESULT
    if settings.get("resumed") and result_path.exists():
        return json.loads(result_path.read_text())  # finished before the interruption
    started = settings.get("resumed") and BackupStore(backup_dir).latest_position() is not None
    set_seeds(trial["seed"])
    data = small_train_dev(settings["train_size"], settings["dev_size"], settings["batch_size"],
                           settings["data_seed"], settings["data_dir"])  # fmt: skip
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
    run = Run(EXPERIMENT, trial["name"], trial_dir, trial, resumed=bool(started))
    if not run.resumed:  # the session start is written once, also across a resume
        hparams = {key: trial[key] for key in ("stage", "learning_rate", "beta1", "units", "layers")}
        with run.writer().as_default():
            hp.hparams(hparams, trial_id=trial["name"])
    result = dict(trial)
    try:
        loop.fit(data.fresh_train(), settings["epochs"], validation_data=data.dev, run=run, verbose=0,
                 backup_dir=backup_dir)  # fmt: skip
    except FloatingPointError as error:  # a learning rate too large diverges: a result, not a crash
        result.update(status="diverged", message=str(error), dev_error=None, train_error=None)
    else:
        result.update(
            status="ok",
            train_error=1 - loop.evaluate(data.train_eval)["accuracy"],
            dev_error=1 - loop.evaluate(data.dev)["accuracy"],
        )
        with run.writer().as_default():
            tf.summary.scalar("dev_error", result["dev_error"], step=settings["epochs"])
            tf.summary.scalar("train_error", result["train_error"], step=settings["epochs"])
    run.close()
    run.save_json(TRIAL_RESULT, result)
    return result


# ----------------------------------------------------------------------------- the search


def run_stage(stage, space, count, rng, first_index, settings, pool) -> list[dict]:
    trials = []
    for n in range(count):
        trial = {"stage": stage, "name": f"{stage}-{n:02d}", "seed": settings["seed"] + first_index + n}
        trial.update(space.sample(rng))
        trials.append(trial)
    results = []
    futures = {pool.submit(run_trial, trial, settings): trial for trial in trials}
    for future in concurrent.futures.as_completed(futures):
        result = future.result()
        results.append(result)
        error = "diverged" if result["dev_error"] is None else f"dev error {result['dev_error']:.3f}"
        print(f"  {result['name']}: lr {result['learning_rate']:.2e}, beta1 {result['beta1']:.4f}, "
              f"{result['layers']} x {result['units']} units -> {error}", flush=True)  # fmt: skip
    return sorted(results, key=lambda r: r["name"])


def write_hparams_config(run, space: SearchSpace) -> None:
    """The HParams dashboard's column definitions, at the run's root."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

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
        hp.Metric("epoch_loss", group="validation", display_name="dev loss"),
    ]
    with run.writer().as_default():
        hp.hparams_config(hparams=hparams, metrics=metrics)
        tf.summary.flush()


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    train_size, dev_size, epochs, coarse, fine = PROFILES[args.profile]
    args.train_size, args.dev_size = args.train_size or train_size, args.dev_size or dev_size
    args.epochs = args.epochs or epochs
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
        fail(f"bad range: {error}")
    if args.coarse_trials < 1 or args.fine_trials < 0 or args.workers < 1 or args.epochs < 1:
        fail("--coarse-trials, --workers and --epochs must be >= 1, --fine-trials >= 0")
    if space.beta_r[1] >= 0 or space.units[0] < 1 or space.layers[0] < 1:
        fail("--beta-r-range must be below 0 (beta1 < 1); units and layers must be >= 1")
    from pipelines.sources import SourceCorruptError, SourceMissingError, fashion_mnist

    try:
        fashion_mnist("train", data_dir=args.data_dir)  # fail fast here, not in every worker
    except (SourceMissingError, SourceCorruptError) as error:
        fail(str(error))
    run = start_run(EXPERIMENT, vars(args))
    print(
        f"Run directory: {run.dir}\n"
        f"{args.workers} workers, {args.coarse_trials} coarse + {args.fine_trials} fine trials"
    )
    if not run.resumed:
        write_hparams_config(run, space)
    settings = {
        key: getattr(args, key)
        for key in ("train_size", "dev_size", "epochs", "batch_size", "data_dir", "seed")
    }
    settings.update(run_dir=str(run.dir), data_seed=args.seed, strategy=args.strategy,
                    backup_dir=str(run.backup_dir), resumed=run.resumed)  # fmt: skip
    rng = np.random.default_rng(args.seed)
    threads = max(1, (os.cpu_count() or 1) // args.workers)
    context = multiprocessing.get_context("spawn")  # fresh TensorFlow per worker, no forked state
    with concurrent.futures.ProcessPoolExecutor(args.workers, mp_context=context, initializer=_init_worker,
                                                initargs=(threads,)) as pool:  # fmt: skip
        print(f"\n== coarse: lr 10^{space.log_lr}, beta1 = 1 - 10^{space.beta_r}, units {space.units}, "
              f"layers {space.layers}")  # fmt: skip
        results = run_stage("coarse", space, args.coarse_trials, rng, 0, settings, pool)
        finished = [r for r in results if r["dev_error"] is not None]
        fine_space = None
        if finished and args.fine_trials:
            best = min(finished, key=lambda r: r["dev_error"])
            fine_space = space.around(best)
            low, high = fine_space.log_lr
            print(f"\n== fine, around {best['name']}: lr 10^({low:.2f}, {high:.2f}), "
                  f"beta1 = 1 - 10^({fine_space.beta_r[0]:.2f}, {fine_space.beta_r[1]:.2f}), "
                  f"units {fine_space.units}, layers {fine_space.layers}")  # fmt: skip
            results += run_stage(
                "fine", fine_space, args.fine_trials, rng, args.coarse_trials, settings, pool
            )

    ranked = sorted(results, key=lambda r: (r["dev_error"] is None, r["dev_error"] or 0.0))
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
    print("\n" + header + rows + ranges)
    import tensorflow as tf

    with run.writer("summary").as_default():
        tf.summary.text("summary", header + rows + ranges, step=0)
    fine_ranges = None if fine_space is None else asdict(fine_space)
    run.save_json(
        "results.json", {"trials": ranked, "coarse_space": asdict(space), "fine_space": fine_ranges}
    )
    run.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
