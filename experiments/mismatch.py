"""The main job: training and testing on different distributions.

Course 3 (Structuring ML projects), Week 1 "Avoidable bias" and Week 2
"Bias and variance with mismatched data distributions" / "Addressing data
mismatch", reproduced on real data.

Source A (the lesson's "web images") is Fashion-MNIST as it is; source B (the
"app images" the product is judged on) is a phone-camera version of other
Fashion-MNIST images: tilted, blurred, washed out and noisy. Train = A plus
half of B; train-dev = a held-out slice of the training distribution; dev and
test = B only. A small CNN trains, and after every epoch the job measures
train, train-dev, dev and test error and the lesson's decomposition:

    avoidable bias = train - human level,   variance = train-dev - train,
    data mismatch  = dev - train-dev,       overfitting to dev = test - dev

At the end it prints (and logs as text) the next step the lesson's chart
recommends, then carries out error analysis on dev (Week 2): automatic tags
(blurry, low contrast, confused pairs, suspected wrong label) with the share of
errors and the ceiling of each, a CSV of 100 sampled errors plus a contact
sheet to tag by hand, and suspected label errors in dev and test (held-out
predictions) and in a train subset (K-fold out-of-fold predictions), ranked by
confident learning. Try `--synthesis-strength 0` (no mismatch) against the
default, `--synthesize-train 0.5` (the lesson's fix: make training data look
like dev), or `--inject-label-noise 0.05` (flip 5% of dev and test labels and
see how many of them the label-issue ranking finds).

Run:
    python -m experiments.mismatch                  # default profile, ~3-5 min on 2 cores
    python -m experiments.mismatch --inject-label-noise 0.05   # measure label-error detection
    python -m experiments.mismatch --label-issue-folds 0       # skip the K-fold pass over train
    python -m experiments.mismatch --epochs 12      # longer
    python -m experiments.mismatch --source tfds:cifar10 --download   # another dataset
    tensorboard --logdir logs/mismatch

In TensorBoard: Time Series / Scalars "error" overlays the runs train,
train_dev, dev and test; "decomposition/*" shows avoidable bias, variance,
data mismatch and overfitting to dev per epoch; Text "summary" has the final
table and recommendation; Images "examples" shows source A beside source B.
Run "error_analysis": Text "error_analysis/dev/tags" (the lesson's sheet:
% of errors per tag, ceiling), Images "error_analysis/dev/confusion_matrix"
and "error_analysis/dev/top_losses", scalars F1 macro/micro. Run
"label_issues": Text and Images "label_issues/<split>/..." (dev, test,
train_subset), with precision/recall when labels were flipped on purpose.
The run directory also holds error_analysis/dev_errors.csv and .png: add tag
columns to the CSV, tick them, and `python -m kerasdl.diagnostics <the CSV>`
prints and logs the table of your tags (Text "error_analysis/dev/manual_tags").
"""

from __future__ import annotations

import sys
from dataclasses import asdict

import keras
import numpy as np
import tensorflow as tf

from kerasdl.diagnostics import (
    inference_ms_per_example,
    inject_label_noise,
    out_of_fold_probabilities,
    tag_table,
)
from kerasdl.diagnostics.report import SplitPredictions, log_error_analysis, log_label_issues
from kerasdl.harness import cli
from kerasdl.harness.curves import EpochCurves, decomposition_history
from kerasdl.harness.run import start_run
from kerasdl.training.distribute import is_chief, make_strategy
from pipelines.datasets import to_dataset
from pipelines.normalize import Standardizer
from pipelines.sources import ImageSource, load_source
from pipelines.splits import MismatchedSplit, mismatched_split, split_by_hash
from pipelines.synthesis import PhoneCamera, camera_config, phone_camera

EXPERIMENT = "mismatch"
# Human-level accuracy on Fashion-MNIST, as error rates (the Bayes-error proxy):
HUMAN_LEVEL = {
    # Crowd-sourced, non-expert labellers on 1,000 test images (zalandoresearch/fashion-mnist README).
    "crowd": 1 - 0.835,
    # Best published accuracy, about 0.969: the lesson's "team of experts" proxy for Bayes error.
    "best-published": 1 - 0.969,
}


def human_error(value: str) -> float:
    """Parses --human-error: a fraction in [0, 1] or a name from HUMAN_LEVEL."""
    if value in HUMAN_LEVEL:
        return HUMAN_LEVEL[value]
    try:
        error = float(value)
    except ValueError:
        raise ValueError(f"expected a fraction or one of {sorted(HUMAN_LEVEL)}; received {value!r}") from None
    if not 0 <= error <= 1:
        raise ValueError(f"expected a fraction in [0, 1]; received {value!r}")
    return error


DESCRIPTION = """\
The main job (Course 3): train on one distribution, judge on another.

Source A ("web images") is the data as it is; source B ("app images", the
distribution that matters) is a phone-camera version of other examples.
Train = A + a share of B; train-dev = held-out training distribution; dev and
test = B only. After every epoch the job logs train, train-dev, dev and test
error and the lesson's decomposition:

    avoidable bias = train - human level,   variance = train-dev - train,
    data mismatch  = dev - train-dev,       overfitting to dev = test - dev

At the end it names the next step the lesson recommends, tags the dev errors
(error analysis), exports 100 of them to tag by hand, and ranks suspected
label errors. --resume continues an interrupted run where it stopped.
"""
# Flags a resumed run may change: a longer training, or other diagnostics of the same model.
SAFE_TO_CHANGE = {
    "epochs",
    "error_sample",
    "label_issue_folds",
    "label_issue_train_size",
    "label_issue_epochs",
}


def build_parser():
    parser = cli.experiment_parser(EXPERIMENT, DESCRIPTION)
    data = parser.add_argument_group("data")
    data.add_argument(
        "--source",
        default="fashion_mnist",
        help="'fashion_mnist' (offline), 'tfds:<name>' (needs --download once) or 'folder:<path>'",
    )
    cli.add_data_dir_flag(data, help="folder of the Fashion-MNIST IDX files, or tfds' data_dir")
    data.add_argument("--download", action="store_true", help="allow tfds to download the dataset (network)")
    data.add_argument(
        "--limit", type=int, default=None, help="use only this many examples (quick runs, tests)"
    )
    cli.add_fraction_flag(
        data, "--b-fraction", 0.2, "share of the examples that become source B, the distribution that matters"
    )
    cli.add_fraction_flag(
        data,
        "--synthesis-strength",
        0.6,
        "how strongly source B is degraded by the phone camera, 0 (no mismatch) to 1",
    )
    cli.add_fraction_flag(data, "--b-train-share", 0.5, "share of source B that goes to train")
    cli.add_fraction_flag(
        data, "--train-dev-fraction", 0.05, "share of the training distribution held out as train-dev"
    )
    cli.add_fraction_flag(
        data,
        "--synthesize-train",
        0.0,
        "share of source A degraded like B before training: the lesson's fix for mismatch",
    )
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=4, help="passes over the training split")
    cli.add_batch_size_flag(train, 128)
    cli.add_learning_rate_flag(train, 2e-3)
    train.add_argument(
        "--width", type=int, default=32, help="filters in the first conv layer (doubles after)"
    )
    cli.add_train_eval_size_flag(
        train, 10_000, help="training error is measured on this fixed hash-chosen subset of train (0: all)"
    )
    diag = parser.add_argument_group("diagnostics")
    diag.add_argument(
        "--human-error",
        type=human_error,
        default="best-published",
        help="human-level error, the proxy for Bayes error: a fraction, 'best-published' "
        "(1-0.969) or 'crowd' (1-0.835, crowd-sourced non-experts)",
    )
    diag.add_argument(
        "--error-sample",
        type=int,
        default=100,
        help="misclassified dev examples exported to error_analysis/dev_errors.csv (+ contact sheet .png) "
        "for tagging by hand",
    )
    cli.add_fraction_flag(
        diag,
        "--inject-label-noise",
        0.0,
        "share of dev and test labels flipped to another class (seeded) before training, to measure "
        "the precision and recall of label-error detection; 0 keeps the labels",
    )
    diag.add_argument(
        "--label-issue-folds",
        type=int,
        default=3,
        help="K of the K-fold training that gives out-of-fold probabilities for label issues in a train "
        "subset; 0 skips train (dev and test always use the trained model's held-out predictions)",
    )
    diag.add_argument(
        "--label-issue-train-size",
        type=int,
        default=6000,
        help="examples of the hash-chosen train subset checked for label issues (K-fold cost grows with it)",
    )
    diag.add_argument(
        "--label-issue-epochs",
        type=int,
        default=2,
        help="epochs of each K-fold model (cheaper than the main run)",
    )
    return parser


def hash_subset(source: ImageSource, size: int, salt: str) -> ImageSource:
    """About `size` examples of `source`, chosen by a hash of their ids (all of them if it is smaller)."""
    if len(source) <= size:
        return source
    share = size / len(source)
    return split_by_hash(source, {"keep": share, "rest": 1 - share}, salt=salt)["keep"]


def make_sources(args) -> tuple[ImageSource, ImageSource]:
    """Source A (as is) and source B (phone camera), from disjoint examples."""
    pool = load_source(args.source, data_dir=args.data_dir, download=args.download)
    if args.limit:
        pool = hash_subset(pool, args.limit, salt=f"limit/{args.seed}")
    roles = split_by_hash(pool, {"A": 1 - args.b_fraction, "B": args.b_fraction}, salt=f"roles/{args.seed}")
    source_a, source_b = roles["A"], phone_camera(roles["B"], args.synthesis_strength, seed=args.seed)
    if args.synthesize_train > 0:
        parts = split_by_hash(
            source_a,
            {"clean": 1 - args.synthesize_train, "synth": args.synthesize_train},
            salt=f"synthesize/{args.seed}",
        )
        synthesized = phone_camera(parts["synth"], args.synthesis_strength, seed=args.seed + 1)
        source_a = ImageSource.concatenate([parts["clean"], synthesized], "A+synthesized")
    return source_a, source_b


def build_model(input_shape, num_classes: int, width: int) -> keras.Model:
    """A small CNN: two conv-BN-ReLU-pool stages and a dense head."""
    inputs = keras.Input(input_shape)
    x = inputs
    for filters in (width, 2 * width):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(4 * width, activation="relu")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def compiled_model(args, split: MismatchedSplit) -> keras.Model:
    """The small CNN compiled as the job trains it (the main run and every K-fold model)."""
    model = build_model(split.train.image_shape, split.train.num_classes, args.width)
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def inject_noise(args, split: MismatchedSplit) -> tuple[MismatchedSplit, dict]:
    """Flips `--inject-label-noise` of the dev and test labels; returns the split and the flip masks."""
    if not args.inject_label_noise:
        return split, {}
    parts, flipped = split.as_dict(), {}
    for offset, name in enumerate(("dev", "test")):
        part = parts[name]
        labels, flipped[name] = inject_label_noise(
            part.labels, args.inject_label_noise, part.num_classes, seed=args.seed + offset
        )
        parts[name] = part.replace(labels=labels)
    return MismatchedSplit(**parts), flipped


def report_label_issues(args, run, split: MismatchedSplit, probs: dict, flipped: dict, standardizer) -> dict:
    """Suspected label errors in dev and test (held-out predictions) and a train subset (K-fold).

    Returns:
        {"scores": {split: count, precision, recall}, "masks": {split: [bool per example]}}.
    """
    writer, step, scores, masks = run.writer("label_issues"), args.epochs, {}, {}
    parts, probs = {"dev": split.dev, "test": split.test}, dict(probs)
    if args.label_issue_folds:
        train = hash_subset(split.train, args.label_issue_train_size, salt=f"label-issues/{args.seed}")
        probs["train_subset"] = out_of_fold_probabilities(
            lambda: compiled_model(args, split),
            standardizer(train.images),
            train.labels,
            folds=args.label_issue_folds,
            epochs=args.label_issue_epochs,
            batch_size=args.batch_size,
            seed=args.seed,
        )
        parts["train_subset"] = train
    for name, part in parts.items():
        predictions = SplitPredictions.of(part, probs[name], split=name)
        issues, scores[name] = log_label_issues(writer, step, predictions, truth=flipped.get(name))
        masks[name] = issues.mask.tolist()
    return {"scores": scores, "masks": masks}


def analyse_dev_errors(args, run, split: MismatchedSplit, dev_probs, suspected_wrong_label) -> dict:
    """Error analysis of dev (Course 3, Week 2), logged and exported; returns its figures and tag table."""
    analysis = log_error_analysis(
        run.writer("error_analysis"),
        args.epochs,
        SplitPredictions.of(split.dev, dev_probs, split="dev"),
        suspected_wrong_label=np.asarray(suspected_wrong_label, bool),
        export_to=run.dir / "error_analysis" / "dev_errors.csv" if is_chief() else None,
        sample=args.error_sample,
        seed=args.seed,
    )
    return {
        "error": analysis.error,
        "f1_macro": analysis.f1_macro,
        "f1_micro": analysis.f1_micro,
        "table": analysis.table,
        "tags": [asdict(row) for row in tag_table(analysis.sheet, analysis.error)],
    }


def summary_text(args, split, final, analysis, label_scores, phase_seconds, ms_per_example, run) -> str:
    label_lines = [
        f"- {name}: {int(s['count'])} suspected"
        + (
            f"; precision {s['precision']:.3f}, recall {s['recall']:.3f} against the flips"
            if "recall" in s
            else ""
        )
        for name, s in label_scores.items()
    ]
    return "\n".join(
        [
            f"# Mismatch: {args.source}, synthesis strength {args.synthesis_strength}",
            "",
            "```",
            split.report(),
            "```",
            "",
            final.to_markdown(),
            "",
            f"## Error analysis (dev): macro F1 {analysis['f1_macro']:.4f}, "
            f"micro F1 {analysis['f1_micro']:.4f}",
            "",
            analysis["table"],
            "",
            "## Suspected label errors (confident learning)",
            "",
            *label_lines,
            "",
            f"Training {phase_seconds.get('train', 0):.0f} s for {args.epochs} epochs; label issues "
            f"{phase_seconds.get('label_issues', 0):.0f} s; error analysis "
            f"{phase_seconds.get('error_analysis', 0):.0f} s; prediction {ms_per_example:.2f} ms "
            f"per example; run directory `{run.dir}`.",
        ]
    )


def log_examples(run, source_a: ImageSource, source_b: ImageSource, count: int = 8) -> None:
    with run.writer("examples").as_default():
        tf.summary.image("examples/source_A", source_a.images[:count], step=0, max_outputs=count)
        tf.summary.image("examples/source_B_phone_camera", source_b.images[:count], step=0, max_outputs=count)


def finish(run, args, split, history, label_issues: dict, analysis: dict, ms_per_example: float) -> None:
    """Finishes the run: the last epoch's decomposition, the error analysis, label issues and timings."""
    phase_seconds = {r["name"]: r.get("seconds") or 0.0 for r in run.phases.records()}
    final = history[-1]
    summary = summary_text(
        args, split, final, analysis, label_issues["scores"], phase_seconds, ms_per_example, run
    )
    run.finish(
        metrics={
            **{f"{name}_error": getattr(final, name) for name in ("train", "train_dev", "dev", "test")},
            **final.gaps(),
            "dev_accuracy": 1 - analysis["error"],
            "f1_macro": analysis["f1_macro"],
            "f1_micro": analysis["f1_micro"],
            "ms_per_example": ms_per_example,
            "train_seconds": phase_seconds.get("train", 0.0),
            "label_issue_seconds": phase_seconds.get("label_issues", 0.0),
        },
        details={
            "decomposition": final.as_dict(),
            "history": [d.as_dict() for d in history],
            "error_tags": analysis["tags"],
            "label_issues": label_issues["scores"],
        },
        summary=summary,
        step=args.epochs,
        echo=True,
    )


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    fractions = (
        "b_fraction",
        "synthesis_strength",
        "b_train_share",
        "train_dev_fraction",
        "synthesize_train",
    )
    cli.check_fractions(args, *fractions, "inject_label_noise")
    cli.check_at_least(
        args, 1, "epochs", "batch_size", "error_sample", "label_issue_train_size", "label_issue_epochs"
    )
    if args.label_issue_folds == 1 or args.label_issue_folds < 0:
        cli.fail(f"--label-issue-folds must be 0 (skip) or at least 2; received {args.label_issue_folds}")
    source_a, source_b = cli.load_or_fail(make_sources, args)
    run = start_run(EXPERIMENT, vars(args), safe_to_change=SAFE_TO_CHANGE)
    split = mismatched_split(
        source_a, source_b, args.b_train_share, args.train_dev_fraction, salt=f"mismatch/{args.seed}"
    )
    split, flipped = inject_noise(args, split)
    print(f"Run directory: {run.dir}\n{split.report()}")
    standardizer = Standardizer.fit(split.train.images)
    run.save_json(
        "data.json",
        {
            "sizes": split.sizes(),
            "composition": split.composition(),
            "standardizer": standardizer.to_config(),
            "camera": camera_config(PhoneCamera()),
        },
    )
    train_eval = split.train
    if args.train_eval_size:
        train_eval = hash_subset(split.train, args.train_eval_size, salt="train-eval")
    evaluate = {
        name: to_dataset(part, 512, standardizer=standardizer)
        for name, part in {
            "train": train_eval,
            "train_dev": split.train_dev,
            "dev": split.dev,
            "test": split.test,
        }.items()
    }
    run.once("examples", log_examples, run, source_a, source_b)

    strategy = make_strategy(args.strategy)
    with strategy.scope():
        model = compiled_model(args, split)
    curves = EpochCurves(run.curves, evaluate, human_error=args.human_error)
    train = to_dataset(split.train, args.batch_size, shuffle=True, seed=args.seed, standardizer=standardizer)
    with run.phase("train"):
        # The dataset reshuffles itself each epoch; shuffle=False stops Keras warning that it cannot.
        model.fit(
            train,
            epochs=args.epochs,
            # Last: a backup follows the epoch's points, so --resume neither skips nor repeats one.
            callbacks=[curves, *run.resume_callbacks(train)],
            shuffle=False,
            verbose=1 if sys.stdout.isatty() else 2,
        )
    history = decomposition_history(run.curves, args.human_error)
    probs = {name: model.predict(evaluate[name], verbose=0) for name in ("dev", "test")}
    label_issues = run.once(
        "label_issues", report_label_issues, args, run, split, probs, flipped, standardizer
    )
    analysis = run.once(
        "error_analysis", analyse_dev_errors, args, run, split, probs["dev"], label_issues["masks"]["dev"]
    )
    ms_per_example = run.once("timing", inference_ms_per_example, model, standardizer(split.dev.images[:32]))
    finish(run, args, split, history, label_issues, analysis, ms_per_example)
    return 0


if __name__ == "__main__":
    sys.exit(main())
