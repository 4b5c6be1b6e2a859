"""The Course 3 report of a classifier on mismatched data: one code path for the main job and `diagnose`.

Course 3 (Structuring ML projects), Weeks 1 and 2. For a model the run
trains (the main job, `diagnose --builder`) or a saved one (`diagnose
--model`), the report is:

1. the decomposition: human-level, train, train-dev, dev and test error, the
   four gaps and the lesson's next step (`DecompositionCallback`: after every
   epoch while training, once at step 0 for a saved model);
2. error analysis of dev: the tag sheet with each tag's ceiling, the
   confusion matrix, the top losses, F1, and a CSV with a contact sheet to
   tag by hand (`kerasdl.diagnostics.report.log_error_analysis`);
3. cleanlab's Datalab on dev and test (the model's held-out predictions and
   its embeddings) and, when the run can build the model, on a hash-chosen
   training subset (K-fold out-of-fold predictions): suspected label errors
   ranked by label quality with cleanlab's estimate of their number beside
   the flagged count, near duplicates and outliers;
4. copies of one image (identical or near, found before splitting) and where
   they landed: within or across the splits, with label conflicts;
5. when the run can build the model and `--learning-curve` asks for it, the
   learning curve and whether more data would help, beside the
   decomposition's recommendation;
6. the prediction time per example; then `run.finish` with the metrics, the
   details and the summary, and the run as a row of the HParams dashboard
   (its flags and final figures), so runs with other settings compare in
   one table.

Besides the report, TensorBoard gets the model's weights as histograms (run
"weights", after every epoch, or once for a saved model) and the dev
examples' learned representation (the input of the last layer) in the
Projector, with each example's thumbnail, label, prediction and whether it
was an error (run "projector/dev_embeddings").

Each step is a phase of the run (`run.once`), so `--resume` redoes none that
finished. A model trained here is saved as `<run>/model.keras`, which
`diagnose --model` reads back.

`results.json` details: "decomposition" (the last measurement, with its
recommendation), "history" (one per epoch), "error_tags" (the tag table's
rows, each share with its 95% interval), "label_issues" (per split: flagged
and estimated label issues, near-duplicate sets, outliers, and
precision/recall against injected flips), "duplicates" (counts), "learning_curve" (points, fall per doubling,
advice; when measured).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass

import keras
import numpy as np

from kerasdl.diagnostics.bias_variance import ErrorDecomposition
from kerasdl.diagnostics.error_analysis import tag_table
from kerasdl.diagnostics.label_issues import LABEL_QUALITY_THRESHOLD, out_of_fold_probabilities
from kerasdl.diagnostics.learning_curves import DEFAULT_MIN_GAIN
from kerasdl.diagnostics.metrics import inference_ms_per_example
from kerasdl.diagnostics.report import SplitPredictions, log_data_quality, log_duplicates, log_error_analysis
from kerasdl.harness import cli
from kerasdl.harness.curves import decomposition_history
from kerasdl.harness.decomposition import DecompositionCallback
from kerasdl.harness.histograms import WeightHistograms, log_weight_histograms
from kerasdl.harness.learning_curves import (
    DEFAULT_FRACTIONS,
    learning_curve,
    log_learning_curve,
    parse_fractions,
)
from kerasdl.harness.mismatch_data import MismatchData
from kerasdl.harness.projector import MAX_SPRITE_SIDE, write_projector
from kerasdl.harness.run import Run
from kerasdl.training.distribute import is_chief
from kerasdl.training.saving import save_model
from pipelines.subsets import hash_subset

MODEL_FILE = "model.keras"
# Human-level accuracy on Fashion-MNIST, as error rates (the Bayes-error proxy):
HUMAN_LEVEL = {
    # Crowd-sourced, non-expert labellers on 1,000 test images (zalandoresearch/fashion-mnist README).
    "crowd": 1 - 0.835,
    # Best published accuracy, about 0.969: the lesson's "team of experts" proxy for Bayes error.
    "best-published": 1 - 0.969,
}
# Flags a resumed run may change: other diagnostics of the same model.
SAFE_TO_CHANGE = frozenset(
    {
        "error_sample",
        "label_issue_folds",
        "label_issue_train_size",
        "label_issue_epochs",
        "learning_curve",
        "learning_curve_min_gain",
    }
)


def human_error(value: str) -> float:
    """Parses --human-error: a fraction in [0, 1) or a name from HUMAN_LEVEL."""
    if value in HUMAN_LEVEL:
        return HUMAN_LEVEL[value]
    try:
        error = float(value)
    except ValueError:
        raise ValueError(f"expected a fraction or one of {sorted(HUMAN_LEVEL)}; received {value!r}") from None
    if not 0 <= error < 1:
        raise ValueError(f"expected a fraction in [0, 1); received {value!r}")
    return error


def count_or_auto(text: str) -> int | str:
    """An argparse type: a whole number, or "auto" (the script picks one from its other flags)."""
    return text if text == "auto" else int(text)


def add_report_flags(
    parser: argparse.ArgumentParser,
    label_issue_folds: int | str = 3,
    learning_curve: str = "none",
    auto_means: dict[str, str] | None = None,
) -> None:
    """Adds the "diagnostics" group; the defaults of the K-fold and learning-curve flags are the script's.

    A default of "auto" is the script's to resolve before `report_options`;
    `auto_means` (flag name without dashes -> text) says in `--help` what it
    becomes.
    """

    def auto(name: str) -> str:
        return f"; auto: {auto_means[name]}" if auto_means and name in auto_means else ""

    diag = parser.add_argument_group("diagnostics")
    diag.add_argument(
        "--human-error",
        type=human_error,
        default="best-published",
        help="human-level error, the proxy for Bayes error: a fraction in [0, 1), or Fashion-MNIST's "
        "'best-published' (1-0.969) or 'crowd' (1-0.835, crowd-sourced non-experts); give your own for "
        "other data",
    )
    diag.add_argument(
        "--error-sample",
        type=int,
        default=100,
        help="misclassified dev examples exported to error_analysis/dev_errors.csv (+ contact sheet .png) "
        "for tagging by hand",
    )
    diag.add_argument(
        "--label-issue-folds",
        type=count_or_auto if label_issue_folds == "auto" else int,
        default=label_issue_folds,
        help="K of the K-fold training that gives out-of-fold probabilities for label issues in a train "
        "subset; 0 skips train (dev and test always use the trained model's held-out predictions)"
        + auto("label_issue_folds"),
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
    diag.add_argument(
        "--learning-curve",
        default=learning_curve,
        help=f"train the same model on nested hash-chosen subsets of train of these fractions (e.g. "
        f"{DEFAULT_FRACTIONS}; the last, 1, is the run's own model) and plot training and dev error against "
        "the training-set size, to see whether more data would help; 'none' skips it"
        + auto("learning_curve"),
    )
    diag.add_argument(
        "--learning-curve-min-gain",
        type=float,
        default=DEFAULT_MIN_GAIN,
        help="fall of dev error over the last doubling of the training set (a fraction) from which the "
        "advice says more data will help",
    )


@dataclass(frozen=True)
class ReportOptions:
    """What the report does, from the flags (`report_options`).

    Attributes:
        human_error: human-level error.
        epochs, batch_size, seed, train_eval_size: how models train here and
            are measured (the K-fold and learning-curve models too).
        error_sample: errors exported for tagging by hand.
        label_issue_folds, label_issue_train_size, label_issue_epochs: the
            K-fold pass over a train subset (0 folds: none).
        learning_curve: its fractions (empty: none).
        learning_curve_min_gain: the fall per doubling from which more data "will help".
    """

    human_error: float
    epochs: int
    batch_size: int
    seed: int
    train_eval_size: int
    error_sample: int = 100
    label_issue_folds: int = 0
    label_issue_train_size: int = 6000
    label_issue_epochs: int = 2
    learning_curve: tuple[float, ...] = ()
    learning_curve_min_gain: float = DEFAULT_MIN_GAIN


def report_options(args: argparse.Namespace, can_train: bool = True, needs: str = "") -> ReportOptions:
    """The report's options from the flags; `cli.fail`s with one line on a bad value.

    Args:
        args: flags of `add_report_flags`, plus epochs (None when nothing
            trains), batch_size, seed and train_eval_size.
        can_train: whether the run can build and train the model (K-fold
            label issues and learning curves need it).
        needs: what to give for them when it cannot, for the message.
    """
    cli.check_at_least(args, 1, "error_sample", "label_issue_train_size", "label_issue_epochs")
    folds = args.label_issue_folds
    if folds == 1 or folds < 0:
        cli.fail(f"--label-issue-folds must be 0 (skip) or at least 2; received {folds}")
    try:
        fractions = parse_fractions(args.learning_curve)
    except ValueError as error:
        cli.fail(str(error))
    if not can_train and (folds or fractions):
        flag = "--label-issue-folds" if folds else "--learning-curve"
        cli.fail(
            f"{flag} trains new models, which needs {needs}; received {flag} {folds or args.learning_curve}"
        )
    if not 0 <= args.learning_curve_min_gain < 1:
        cli.fail(f"--learning-curve-min-gain must be in [0, 1); received {args.learning_curve_min_gain}")
    return ReportOptions(
        human_error=args.human_error,
        epochs=getattr(args, "epochs", None) or 0,
        batch_size=args.batch_size,
        seed=args.seed,
        train_eval_size=args.train_eval_size,
        error_sample=args.error_sample,
        label_issue_folds=folds,
        label_issue_train_size=args.label_issue_train_size,
        label_issue_epochs=args.label_issue_epochs,
        learning_curve=fractions,
        learning_curve_min_gain=args.learning_curve_min_gain,
    )


# -- the model and the data ---------------------------------------------------------------------------


def check_model_fits(model: keras.Model, data: MismatchData) -> None:
    """Raises `ValueError` naming both when the data's images or classes do not fit the model.

    The model must take one input of the images' shape (unknown dimensions
    fit anything) and output one probability (or logit) per class.
    """
    model_input, model_output = model.input_shape, model.output_shape
    if not isinstance(model_input, tuple) or not isinstance(model_output, tuple):
        raise ValueError(
            f"The model must take one input and give one output; it takes {model_input} and gives "
            f"{model_output}."
        )
    shape = (None, *data.image_shape)
    fits = len(model_input) == len(shape) and all(
        m is None or m == d for m, d in zip(model_input[1:], shape[1:], strict=True)
    )
    if not fits:
        raise ValueError(
            f"The model takes inputs of shape {model_input}, but the data's images have shape {shape} "
            f"({data.description}): resize the images or give a model for this shape."
        )
    if len(model_output) != 2 or model_output[-1] != data.num_classes:
        raise ValueError(
            f"The model's output has shape {model_output}, but the data have {data.num_classes} classes "
            f"({', '.join(data.class_names)}): the model must output one probability per class, "
            f"shape (None, {data.num_classes})."
        )


def has_accuracy_metric(model: keras.Model) -> bool:
    """Whether `model` is compiled with a metric named "accuracy" (what the decomposition reads)."""
    if not model.compiled:
        return False
    metrics = (model.get_compile_config() or {}).get("metrics") or []
    metrics = metrics if isinstance(metrics, list | tuple) else [metrics]
    return any(
        metric == "accuracy"
        or (isinstance(metric, dict) and metric.get("config", {}).get("name") == "accuracy")
        for metric in metrics
    )


def takes_one_hot_labels(model: keras.Model) -> bool:
    """Whether `model` is compiled with a loss for one-hot labels (e.g. categorical cross-entropy)."""
    loss = getattr(model, "loss", None) if model.compiled else None
    name = loss if isinstance(loss, str) else getattr(loss, "name", "") or ""
    return "categorical" in name and "sparse" not in name


def compiled_for_report(model: keras.Model) -> keras.Model:
    """`model`, compiled for integer labels with an accuracy metric if it is not.

    The decomposition reads error off accuracy, and the report's data have
    integer labels. A model compiled that way is returned as it is; one
    compiled for one-hot labels gets the sparse form of its cross-entropy;
    an uncompiled one gets the sparse categorical cross-entropy of its
    outputs (probabilities, or logits when its last activation is linear).
    Only the loss and metrics change: nothing is trained.
    """
    if has_accuracy_metric(model) and not takes_one_hot_labels(model):
        return model
    loss = model.loss if model.compiled and not takes_one_hot_labels(model) else None
    if loss is None:
        activation = getattr(model.layers[-1], "activation", None)
        logits = getattr(model.loss, "from_logits", None) if model.compiled else None
        if logits is None:
            logits = activation is not None and getattr(activation, "__name__", "") == "linear"
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=bool(logits))
    model.compile(loss=loss, metrics=["accuracy"])
    return model


def class_probabilities(model: keras.Model, dataset) -> np.ndarray:
    """The model's class probabilities [N, classes] (a softmax of its outputs when they are logits)."""
    outputs = np.asarray(model.predict(dataset, verbose=0), dtype=np.float64)
    if np.any(outputs < 0) or not np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3):
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        outputs = shifted / shifted.sum(axis=1, keepdims=True)
    return outputs.astype(np.float32)


# -- the decomposition ---------------------------------------------------------------------------------


def decomposition_callback(run: Run, data: MismatchData, human_error: float) -> DecompositionCallback:
    """The main job's callback on the run's curves, measuring the data's four splits."""
    return DecompositionCallback(
        run.curves, **data.evaluation_datasets(), human_error=human_error, label_ranges=data.label_ranges()
    )


def _save(model: keras.Model, path) -> str:
    return str(save_model(model, path)) if is_chief() else str(path)


EVALUATION_PHASE = "per_epoch_evaluation"


def fit_with_decomposition(run: Run, model: keras.Model, data: MismatchData, options: ReportOptions) -> None:
    """Trains `model` on train for `options.epochs` (resumable), with the decomposition after every epoch.

    Then saves it as `<run>/model.keras`.
    """
    curves = decomposition_callback(run, data, options.human_error)
    train = data.dataset(data.split.train, options.batch_size, shuffle=True, seed=options.seed)
    with run.phase("train"):
        # The dataset reshuffles itself each epoch; shuffle=False stops Keras warning that it cannot.
        model.fit(
            train,
            epochs=options.epochs,
            # Last: a backup follows the epoch's points, so --resume neither skips nor repeats one.
            callbacks=[curves, WeightHistograms(run.writer("weights")), *run.resume_callbacks(train)],
            shuffle=False,
            verbose=1 if sys.stdout.isatty() else 2,
        )
    # The share of training spent measuring the four splits after each epoch, for the summary's timings.
    run.phases.started(EVALUATION_PHASE)
    run.phases.finished(EVALUATION_PHASE, seconds=curves.measure_seconds)
    run.once("save_model", _save, model, run.dir / MODEL_FILE)


def _measure_once(run: Run, model: keras.Model, data: MismatchData, human_error: float) -> dict[str, float]:
    curves = decomposition_callback(run, data, human_error)
    curves.set_model(model)
    curves.on_train_begin()
    log_weight_histograms(run.writer("weights"), model, 0)
    return curves.measure(0, learning_rate=False)


def measure_decomposition(run: Run, model: keras.Model, data: MismatchData, human_error: float) -> None:
    """The decomposition of a model trained elsewhere, measured once at step 0 by the same callback."""
    run.once("decomposition", _measure_once, run, model, data, human_error)


# -- the report's parts --------------------------------------------------------------------------------


PROJECTOR_EXAMPLES = 1024  # dev examples in the Projector (28x28 thumbnails: a sprite 896 px a side)


def representation_model(model: keras.Model) -> keras.Model | None:
    """A model from the inputs to what the last layer reads (the learned representation), or None.

    None when `model` has no such graph to cut (a subclassed model) or its
    last layer reads several tensors.
    """
    try:
        features = model.layers[-1].input
        if isinstance(features, list | tuple):
            return None
        return keras.Model(model.inputs, features)
    except (AttributeError, ValueError, IndexError):
        return None


def embeddings(model: keras.Model, data: MismatchData, images: np.ndarray) -> np.ndarray | None:
    """What the model's last layer reads for each image, flattened to [N, D]; None when it cannot be cut."""
    features = representation_model(model)
    if features is None:
        return None
    matrix = features.predict(data.inputs(images), verbose=0, batch_size=256)
    return np.asarray(matrix).reshape(len(images), -1)


def log_dev_embeddings(run: Run, model: keras.Model, data: MismatchData, dev_probs: np.ndarray) -> dict:
    """The first `PROJECTOR_EXAMPLES` dev examples' representations in the Projector, thumbnails as points.

    Metadata: the label, the prediction and whether it was an error (dev is
    all source B). Colour by "error" to see where the mistakes sit.
    """
    dev = data.split.dev
    per_side = MAX_SPRITE_SIDE // max(dev.images.shape[1:3])  # thumbnails per sprite side, at full size
    count = min(PROJECTOR_EXAMPLES, len(dev.labels), per_side**2)
    matrix = embeddings(model, data, dev.images[:count])
    if matrix is None:
        return {"written": False, "reason": "the model's last layer has no single input tensor to show"}
    names = np.asarray(data.class_names)
    predicted = dev_probs[:count].argmax(axis=1)
    labels = dev.labels[:count]
    write_projector(
        run.dir / "projector",
        "dev_embeddings",
        names[labels].tolist(),
        matrix.reshape(count, -1),
        metadata={
            "predicted": names[predicted].tolist(),
            "error": np.where(predicted != labels, "error", "correct").tolist(),
        },
        sprite=dev.images[:count],
    )
    return {"written": True, "examples": count}


def report_label_issues(
    run: Run,
    data: MismatchData,
    probs: dict[str, np.ndarray],
    options: ReportOptions,
    step: int,
    build_model: Callable[[], keras.Model] | None,
    model: keras.Model | None = None,
) -> dict:
    """cleanlab's Datalab on dev and test (held-out predictions) and a train subset (K-fold).

    Label issues, near duplicates and outliers of each split, from its
    out-of-sample probabilities and `model`'s embeddings (`embeddings`; the
    train subset's are in-sample, as the model trained on it). Without
    `model`, label issues and outliers come from the probabilities alone.

    Returns:
        {"scores": {split: count, estimated, near_duplicate_sets, near_duplicates,
        outliers, and against the flips precision, recall, precision_at_k},
        "masks": {split: [bool per example]}}.
    """
    writer, scores, masks = run.writer("label_issues"), {}, {}
    parts, probs = {"dev": data.split.dev, "test": data.split.test}, dict(probs)
    if options.label_issue_folds and build_model is not None:
        train = hash_subset(
            data.split.train, options.label_issue_train_size, salt=f"label-issues/{options.seed}"
        )
        probs["train_subset"] = out_of_fold_probabilities(
            build_model,
            data.inputs(train.images),
            train.labels,
            folds=options.label_issue_folds,
            epochs=options.label_issue_epochs,
            batch_size=options.batch_size,
            seed=options.seed,
            progress=True,
        )
        parts["train_subset"] = train
    for name, part in parts.items():
        predictions = SplitPredictions.of(part, probs[name], split=name)
        features = None if model is None else embeddings(model, data, part.images)
        quality, scores[name] = log_data_quality(
            writer, step, predictions, features, truth=data.flipped.get(name)
        )
        masks[name] = quality.label_issues.mask.tolist()
    return {"scores": scores, "masks": masks}


def analyse_dev_errors(
    run: Run,
    data: MismatchData,
    dev_probs: np.ndarray,
    suspected_wrong_label,
    options: ReportOptions,
    step: int,
    label_issue_estimate: int | None = None,
) -> dict:
    """Error analysis of dev (Course 3, Week 2), logged and exported; returns its figures and tag table.

    `label_issue_estimate` (cleanlab's estimated number of label issues in
    dev) is shown beside the "suspected wrong label" tag.
    """
    analysis = log_error_analysis(
        run.writer("error_analysis"),
        step,
        SplitPredictions.of(data.split.dev, dev_probs, split="dev"),
        suspected_wrong_label=np.asarray(suspected_wrong_label, bool),
        label_issue_estimate=label_issue_estimate,
        export_to=run.dir / "error_analysis" / "dev_errors.csv" if is_chief() else None,
        sample=options.error_sample,
        seed=options.seed,
    )
    return {
        "error": analysis.error,
        "f1_macro": analysis.f1_macro,
        "f1_micro": analysis.f1_micro,
        "table": analysis.table,
        "tags": [asdict(row) for row in tag_table(analysis.sheet, analysis.error)],
    }


def report_duplicates(run: Run, data: MismatchData, step: int) -> dict:
    """Copies of one image (found by content before splitting) where they landed, logged.

    Returns the counts in the splits (with those found before splitting and
    the number `--dedupe` removed) and a paragraph for the summary.
    """
    copies = data.copies
    before = ""
    if copies.summary:
        before = f"Before splitting: {copies.summary}"
        if copies.removed:
            before += f" `--dedupe` removed {len(copies.removed)} copies (one kept per group)."
    found = {f"found_before_split/{name}": value for name, value in copies.found.items()}
    duplicates = log_duplicates(
        run.writer("duplicates"),
        step,
        data.split.as_dict(),
        duplicates=data.duplicates_in_splits(),
        note=before,
        scalars={**found, "removed_by_dedupe": len(copies.removed)},
    )
    counts = {
        **duplicates.counts(),
        "removed_by_dedupe": len(copies.removed),
        "found_before_split": dict(copies.found),
    }
    summary = f"In the splits: {duplicates.summary_line()}" + (f" {before}" if before else "")
    return {"counts": counts, "summary": summary}


def report_learning_curve(
    run: Run,
    build_model: Callable[[], keras.Model],
    data: MismatchData,
    options: ReportOptions,
    final: ErrorDecomposition,
    step: int,
) -> dict:
    """The learning curve (one phase per size), logged once; returns its points, verdict and advice."""
    curve = learning_curve(
        run,
        build_model,
        data,
        options.learning_curve,
        (final.train, final.dev),
        epochs=options.epochs,
        batch_size=options.batch_size,
        seed=options.seed,
        train_eval_size=options.train_eval_size,
    )
    png = run.once("learning_curve/log", log_learning_curve, run, curve, step)
    focus = final.recommendation().focus
    return {
        **curve.as_dict(options.learning_curve_min_gain),
        "advice": curve.advice(options.learning_curve_min_gain, focus=focus),
        "table": curve.to_markdown(),
        "png": png,
    }


def summary_text(
    title: str,
    data: MismatchData,
    final: ErrorDecomposition,
    analysis: dict,
    label_scores: dict,
    duplicates: dict,
    curve: dict | None,
    timings: str,
) -> str:
    """The run's summary (Markdown): data, decomposition, advice, error analysis, label issues, duplicates."""
    label_lines = [
        f"- {name}: {int(s['count'])} flagged (cleanlab estimates {int(s['estimated'])} label issues)"
        + (
            f"; precision {s['precision']:.3f}, recall {s['recall']:.3f} against the flips"
            if "recall" in s
            else ""
        )
        + f"; {int(s['near_duplicate_sets'])} near-duplicate sets, {int(s['outliers'])} outliers"
        for name, s in label_scores.items()
    ]
    lines = [f"# {title}", "", f"Data: {data.description}.", "", "```", data.split.report(), "```", ""]
    for spec, report in data.files.items():
        left_out = ", ".join(f"{count} {reason}" for reason, count in report["left_out"].items() if count)
        lines += [
            f"Files of `{spec}` left out: {left_out or 'none'}; read although their extension names another "
            f"format: {report['extension_mismatches']}."
            + (" Streamed from disk (bigger than --memory-budget)." if report.get("streamed") else ""),
            "",
        ]
    lines += [final.to_markdown(), ""]
    if curve is not None:
        lines += [f"**Would more data help?** {curve['advice']}", ""]
    lines += [
        f"## Error analysis (dev): macro F1 {analysis['f1_macro']:.4f}, micro F1 {analysis['f1_micro']:.4f}",
        "",
        analysis["table"],
        "",
        "## Data quality (cleanlab Datalab): suspected label errors, near duplicates, outliers",
        "",
        "Flagged: ranked by label quality, the model gives the given label less than "
        f"{LABEL_QUALITY_THRESHOLD:g} probability, never more than cleanlab's estimate (an upper bound "
        "here: it also counts the model's own confusions).",
        "",
        *label_lines,
        "",
        "## Duplicates",
        "",
        duplicates["summary"],
        "",
    ]
    if curve is not None:
        lines += ["## Learning curve", "", curve["table"], "", "![learning curve](learning_curve.png)", ""]
    lines.append(timings)
    return "\n".join(lines)


def _timings(run: Run, epochs: int, ms_per_example: float) -> tuple[str, dict[str, float]]:
    seconds = {r["name"]: r.get("seconds") or 0.0 for r in run.phases.records()}
    parts = []
    if "train" in seconds:
        evaluation = seconds.get(EVALUATION_PHASE, 0.0)
        parts.append(
            f"training {seconds['train']:.0f} s for {epochs} epochs (of which {evaluation:.0f} s measuring "
            "the four splits after each epoch)"
        )
    curve = sum(value for name, value in seconds.items() if name.startswith("learning_curve/"))
    if curve:
        parts.append(f"learning curve {curve:.0f} s")
    parts += [
        f"label issues {seconds.get('label_issues', 0):.0f} s",
        f"error analysis {seconds.get('error_analysis', 0):.0f} s",
        f"prediction {ms_per_example:.2f} ms per example",
        f"run directory `{run.dir}`",
    ]
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + ".", seconds


def end_of_run_report(
    run: Run,
    model: keras.Model,
    data: MismatchData,
    options: ReportOptions,
    *,
    title: str,
    step: int,
    build_model: Callable[[], keras.Model] | None = None,
) -> None:
    """Writes the whole report (module docstring) for `model` and finishes the run.

    Args:
        run: the run; its curves hold the decomposition (`fit_with_decomposition`
            or `measure_decomposition` ran first).
        model: the trained model (compiled with an accuracy metric).
        data: the run's data.
        options: `report_options(args)`.
        title: the summary's heading.
        step: the TensorBoard step of the report (the last epoch, or 0).
        build_model: returns a new compiled model like `model`, for the
            K-fold label issues and the learning curve; None when the run
            cannot build one (a saved model).
    """
    history = decomposition_history(run.curves, options.human_error)
    final = history[-1]
    evaluation = data.evaluation_datasets()
    probs = {name: class_probabilities(model, evaluation[name]) for name in ("dev", "test")}
    label_issues = run.once(
        "label_issues", report_label_issues, run, data, probs, options, step, build_model, model
    )
    analysis = run.once(
        "error_analysis",
        analyse_dev_errors,
        run,
        data,
        probs["dev"],
        label_issues["masks"]["dev"],
        options,
        step,
        int(label_issues["scores"]["dev"]["estimated"]),
    )
    duplicates = run.once("duplicates", report_duplicates, run, data, step)
    curve = None
    if options.learning_curve and build_model is not None:
        curve = report_learning_curve(run, build_model, data, options, final, step)
    ms_per_example = run.once(
        "timing", inference_ms_per_example, model, data.inputs(data.split.dev.images[:32])
    )
    timings, seconds = _timings(run, options.epochs, ms_per_example)
    summary = summary_text(title, data, final, analysis, label_issues["scores"], duplicates, curve, timings)
    metrics = {
        **{f"{name}_error": getattr(final, name) for name in ("train", "train_dev", "dev", "test")},
        **final.gaps(),
        "dev_accuracy": 1 - analysis["error"],
        "f1_macro": analysis["f1_macro"],
        "f1_micro": analysis["f1_micro"],
        "ms_per_example": ms_per_example,
        "train_seconds": seconds.get("train", 0.0),
        "evaluation_seconds": seconds.get(EVALUATION_PHASE, 0.0),
        "label_issue_seconds": seconds.get("label_issues", 0.0),
        "error_analysis_seconds": seconds.get("error_analysis", 0.0),
        "duplicate_groups": duplicates["counts"]["groups"],
        "duplicates_across_splits": duplicates["counts"]["across_splits"],
    }
    details = {
        "decomposition": final.as_dict(),
        "history": [d.as_dict() for d in history],
        "error_tags": analysis["tags"],
        "label_issues": label_issues["scores"],
        "duplicates": duplicates["counts"],
    }
    if curve is not None:
        metrics["learning_curve_fall_per_doubling"] = curve["fall_per_doubling"]
        details["learning_curve"] = {key: value for key, value in curve.items() if key != "table"}
    run.once("projector", log_dev_embeddings, run, model, data, probs["dev"])
    run.finish(metrics=metrics, details=details, summary=summary, step=step, echo=True, hparams=True)
