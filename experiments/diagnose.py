"""Diagnose any Keras classifier: the main job's Course 3 report for your own model and data.

Course 3 (Structuring ML projects), Weeks 1 and 2: where does the error come
from, and what to try next? The report the main job writes for its own small
CNN (experiments.mismatch), for a model you bring:

    avoidable bias = train - human level,   variance = train-dev - train,
    data mismatch  = dev - train-dev,       overfitting to dev = test - dev

with the lesson's next step, the error-analysis sheet of dev (automatic tags
and each tag's ceiling, confusion matrix, top losses, a CSV to tag by hand),
suspected label errors, exact duplicates across the splits and, when kerasdl
can train the model, a learning curve that says whether more data would help.
The report is written by the same code as the main job's
(`kerasdl.harness.course3_report`), so a model the main job saved gets the
same decomposition and tag table here.

Two ways to give the model:

- `--model PATH.keras`: a saved model, loaded with kerasdl's safe loader
  (`kerasdl.training.saving.load_model`: Lambda layers, other packages' code
  and legacy formats are refused). Nothing trains: the decomposition is
  measured once, label issues come from its held-out predictions on dev and
  test.
- `--builder module:function` (or `path/to/file.py:function`): a function
  returning a new compiled Keras classifier (softmax outputs, a loss for
  integer labels such as "sparse_categorical_crossentropy", and
  metrics=["accuracy"]); it may take `input_shape` and `num_classes` keyword
  arguments, which come from the data. kerasdl trains it for `--epochs` with
  the decomposition after every epoch (`--resume` continues an interrupted
  run), saves it as <run>/model.keras, finds label issues in a train subset
  by K-fold training, and draws the learning curve (`--learning-curve`,
  default 1/8, 1/4, 1/2 and all of train).

The data come in the main job's forms: one source split the lesson's way
(`--source`, with a phone-camera source B), or a training source and the
source that matters (`--source` and `--source-b`). Images must have the
model's input shape and the model one output per class; `--preprocess` says
what the model's inputs are (standardized as kerasdl trains, pixels / 255,
or raw pixels). Give `--human-error` for data other than Fashion-MNIST.

Run:
    python -m experiments.diagnose --model logs/mismatch/<run>/model.keras   # the main job's model
    python -m experiments.diagnose --builder my_models:build --epochs 4      # your builder, trained here
    python -m experiments.diagnose --model my.keras --source folder:web --source-b folder:app \\
        --preprocess unit --human-error 0.02
    tensorboard --logdir logs/diagnose

In TensorBoard, as for the main job: Scalars "error" per split and
human level, and "decomposition" with one run per gap, gaps/<gap> (one point
at step 0 for a saved model, one per epoch for a builder), Text "summary"
(the whole report), run "error_analysis" (tags,
confusion matrix, top losses), run "label_issues", run "duplicates", and with
a builder "learning_curve/error" (step = training-set size) and Images
"learning_curve/plot" (also <run>/learning_curve.png, linked from the
summary).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path

import keras

from kerasdl.harness import cli, course3_report
from kerasdl.harness.course3_report import (
    add_report_flags,
    check_model_fits,
    compiled_for_report,
    count_or_auto,
    end_of_run_report,
    fit_with_decomposition,
    has_accuracy_metric,
    measure_decomposition,
    report_options,
    takes_one_hot_labels,
)
from kerasdl.harness.learning_curves import DEFAULT_FRACTIONS
from kerasdl.harness.mismatch_data import add_data_flags, check_data_flags, log_examples, mismatch_data
from kerasdl.harness.run import resumable_run_dir, start_run
from kerasdl.training.distribute import make_strategy
from kerasdl.training.saving import load_model

EXPERIMENT = "diagnose"
DESCRIPTION = """\
The Course 3 report for your own Keras classifier and data: the bias /
variance / data-mismatch decomposition with the lesson's next step, error
analysis of dev, suspected label errors, duplicates and (with --builder) a
learning curve.

Give a saved model (--model PATH.keras, loaded safely, nothing trains) or a
function that builds and compiles one (--builder module:function; kerasdl
trains it, resumably, and can then also run K-fold label issues and the
learning curve). The data flags are the main job's: --source alone is split
the lesson's way with a phone-camera source B; --source and --source-b are
the training source and the source that matters.
"""
DEFAULT_EPOCHS = 4
DEFAULT_FOLDS = 3
SAFE_TO_CHANGE = {"epochs", *course3_report.SAFE_TO_CHANGE}
MODEL_NEEDED = (
    "give the model to diagnose: --model PATH.keras (a saved model) or --builder module:function "
    "(a function returning a compiled model, which kerasdl trains)"
)


def build_parser():
    parser = cli.experiment_parser(EXPERIMENT, DESCRIPTION)
    given = parser.add_argument_group("the model (one of)")
    given.add_argument(
        "--model", default=None, help="a saved .keras model, loaded with kerasdl's safe loader"
    )
    given.add_argument(
        "--builder",
        default=None,
        help="module:function or path/to/file.py:function returning a new compiled classifier "
        "(metrics=['accuracy'], integer labels); it may take input_shape and num_classes",
    )
    train = parser.add_argument_group("training (with --builder)")
    train.add_argument(
        "--epochs",
        type=count_or_auto,
        default="auto",
        help=f"passes over the training split; auto: {DEFAULT_EPOCHS} with --builder",
    )
    cli.add_batch_size_flag(train, 128, help="mini-batch size of the training and the K-fold models")
    add_data_flags(parser)
    add_report_flags(
        parser,
        label_issue_folds="auto",
        learning_curve="auto",
        auto_means={
            "label_issue_folds": f"{DEFAULT_FOLDS} with --builder, 0 with --model",
            "learning_curve": f"{DEFAULT_FRACTIONS} with --builder, none with --model",
        },
    )
    return parser


def resolve_defaults(args) -> None:
    """Fills in the flags whose default depends on --model or --builder; `cli.fail`s on a bad pair."""
    if args.model is None and args.builder is None:
        if args.resume:  # a finished or unknown run gets the harness's own one-line refusal
            try:
                resumable_run_dir(EXPERIMENT, args.logdir, args.run_name)
            except ValueError as error:
                cli.fail(str(error))
        cli.fail(MODEL_NEEDED)
    if args.model is not None and args.builder is not None:
        cli.fail(
            f"give --model or --builder, not both; received --model {args.model} --builder {args.builder}"
        )
    trains = args.builder is not None
    if not trains and args.epochs != "auto":
        cli.fail(f"--epochs trains the model, which needs --builder; received --epochs {args.epochs}")
    if args.epochs == "auto":
        args.epochs = DEFAULT_EPOCHS if trains else None
    if args.label_issue_folds == "auto":
        args.label_issue_folds = DEFAULT_FOLDS if trains else 0
    if args.learning_curve == "auto":
        args.learning_curve = DEFAULT_FRACTIONS if trains else "none"


def load_saved_model(path: str) -> keras.Model:
    """The model of `--model`, through the safe loader; `cli.fail`s with the loader's message."""
    if not Path(path).is_file():
        cli.fail(f"--model: there is no file {path}")
    try:
        return load_model(path)
    except (ValueError, RuntimeError, OSError) as error:  # UntrustedModelError is a ValueError
        cli.fail(f"--model {path} was not loaded: {error}")


def import_builder(spec: str) -> Callable[..., keras.Model]:
    """The function `spec` ("module:function" or "path/to/file.py:function") names; `cli.fail`s if none."""
    module_name, _, function_name = spec.rpartition(":")
    if not module_name or not function_name:
        cli.fail(f"--builder takes module:function or path/to/file.py:function; received {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: the user's modules in the current folder
    try:
        if module_name.endswith(".py"):
            location = importlib.util.spec_from_file_location(Path(module_name).stem, module_name)
            if location is None or not Path(module_name).is_file():
                cli.fail(f"--builder {spec}: there is no file {module_name}")
            module = importlib.util.module_from_spec(location)
            location.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as error:
        cli.fail(f"--builder {spec}: cannot import {module_name}: {error}")
    function = getattr(module, function_name, None)
    if not callable(function):
        cli.fail(f"--builder {spec}: {module_name} has no function {function_name!r}")
    return function


def builder_for(function: Callable[..., keras.Model], spec: str, input_shape, num_classes: int):
    """A no-argument builder: `function` with the data's input_shape and num_classes if it takes them."""
    parameters = inspect.signature(function).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    offered = {"input_shape": tuple(input_shape), "num_classes": num_classes}
    arguments = {name: value for name, value in offered.items() if takes_any or name in parameters}

    def build() -> keras.Model:
        model = function(**arguments)
        if not isinstance(model, keras.Model):
            cli.fail(f"--builder {spec} must return a keras.Model; it returned {type(model).__name__}")
        if takes_one_hot_labels(model):
            cli.fail(
                f"--builder {spec} must return a model compiled for integer labels (e.g. loss="
                f"'sparse_categorical_crossentropy'); its loss {model.loss!r} takes one-hot labels"
            )
        if not has_accuracy_metric(model):
            cli.fail(
                f"--builder {spec} must return a compiled model with metrics=['accuracy'] (and a loss for "
                f"integer labels, e.g. 'sparse_categorical_crossentropy'); it returned "
                f"{'an uncompiled model' if not model.compiled else 'a model without an accuracy metric'}"
            )
        return model

    return build


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    resolve_defaults(args)
    check_data_flags(args)
    cli.check_at_least(args, 1, "epochs", "batch_size")
    trains = args.builder is not None
    options = report_options(args, can_train=trains, needs="--builder (kerasdl trains the model)")
    saved = load_saved_model(args.model) if not trains else None
    function = import_builder(args.builder) if trains else None
    data = cli.load_or_fail(mismatch_data, args)
    build = builder_for(function, args.builder, data.image_shape, data.num_classes) if trains else None
    model = compiled_for_report(saved) if saved is not None else build()  # a probe: checked before the run
    try:
        check_model_fits(model, data)
    except ValueError as error:
        cli.fail(str(error))
    if trains:
        del model
        keras.backend.clear_session()  # the run builds its own model, from the run's seed
    run = start_run(EXPERIMENT, vars(args), safe_to_change=SAFE_TO_CHANGE)
    print(f"Run directory: {run.dir}\n{data.split.report()}")
    run.save_json("data.json", data.to_json())
    run.once("examples", log_examples, run, data)
    if trains:
        with make_strategy(args.strategy).scope():
            model = build()
        fit_with_decomposition(run, model, data, options)
    else:
        measure_decomposition(run, model, data, options.human_error)
    end_of_run_report(
        run,
        model,
        data,
        options,
        title=f"Diagnose: {args.builder or args.model}",
        step=args.epochs or 0,
        build_model=build,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
