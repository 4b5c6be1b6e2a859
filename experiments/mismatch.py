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

The trained model is saved as <run>/model.keras; `python -m
experiments.diagnose --model <run>/model.keras` with the same data flags
writes the same report for it (one code path, kerasdl.harness.course3_report).
`--learning-curve 1/8,1/4,1/2,1` also trains the network on nested subsets
of train and says whether more data would help; `--source-b SPEC` gives a
real source B instead of the phone camera.

Run:
    python -m experiments.mismatch                  # default profile, ~1.5 min on 2 cores
    python -m experiments.mismatch --inject-label-noise 0.05   # measure label-error detection
    python -m experiments.mismatch --label-issue-folds 0       # skip the K-fold pass over train
    python -m experiments.mismatch --epochs 12      # longer
    python -m experiments.mismatch --source tfds:cifar10 --download   # another dataset
    python -m experiments.mismatch --learning-curve 1/8,1/4,1/2,1      # would more data help?
    tensorboard --logdir logs/mismatch

In TensorBoard: Custom Scalars draws the four gaps (avoidable bias,
variance, data mismatch, overfitting to dev: runs gaps/<gap>, tag
"decomposition") on one chart, one colour each, and "error" per split (runs
train, train_dev, dev, test, with human_level as a flat line) on another;
Text "summary" has the final table and recommendation; Images "examples"
shows source A above source B; Histograms "weights" every layer's weights
per epoch; HParams the run's flags and final figures (several runs of the
main job compare in one table); the Projector the dev examples' learned
representation with thumbnails, colourable by "error". With more than 40
runs in the log dir TensorBoard selects none: type a run filter (e.g.
"mismatch/<run>").
Run "error_analysis": Text "error_analysis/dev/tags" (the lesson's sheet:
% of errors per tag, ceiling), Images "error_analysis/dev/confusion_matrix"
and "error_analysis/dev/top_losses", scalars F1 macro/micro. Run
"label_issues": Text and Images "label_issues/<split>/..." (dev, test,
train_subset): the examples whose held-out label quality is low, beside
cleanlab's estimated number of label issues, with precision/recall when
labels were flipped on purpose; Text "data_quality/<split>/..." (cleanlab
Datalab on the held-out probabilities and embeddings: label issues, near
duplicates and outliers).
Run "duplicates": copies of one image (identical pixels or a near
perceptual hash), found before splitting and kept in one split: Text
"duplicates/table", Images "duplicates/copies" (pairs side by side),
scalars of the counts (--dedupe keeps one copy per group instead). With
--learning-curve: "learning_curve/error" by training-set size and Images
"learning_curve/plot" (also <run>/learning_curve.png).
The run directory also holds error_analysis/dev_errors.csv and .png: add tag
columns to the CSV, tick them, and `python -m kerasdl.diagnostics <the CSV>`
prints and logs the table of your tags (Text "error_analysis/dev/manual_tags").
"""

from __future__ import annotations

import functools
import math
import sys

import keras

from kerasdl.harness import cli, course3_report
from kerasdl.harness.course3_report import (
    add_report_flags,
    end_of_run_report,
    fit_with_decomposition,
    report_options,
)
from kerasdl.harness.mismatch_data import add_data_flags, check_data_flags, log_examples, mismatch_data
from kerasdl.harness.run import start_run
from kerasdl.training.distribute import make_strategy

EXPERIMENT = "mismatch"
DESCRIPTION = """\
The main job (Course 3): train on one distribution, judge on another.

Source A ("web images") is the data as it is; source B ("app images", the
distribution that matters) is a phone-camera version of other examples, or
the source given with --source-b. Train = A + a share of B; train-dev =
held-out training distribution; dev and test = B only. After every epoch the
job logs train, train-dev, dev and test error and the lesson's decomposition:

    avoidable bias = train - human level,   variance = train-dev - train,
    data mismatch  = dev - train-dev,       overfitting to dev = test - dev

At the end it names the next step the lesson recommends, tags the dev errors
(error analysis), exports 100 of them to tag by hand, ranks suspected label
errors, lists duplicate images and, with --learning-curve, says whether more
data would help. The model is saved as <run>/model.keras (experiments.diagnose
reads it). --resume continues an interrupted run where it stopped.
"""
# Flags a resumed run may change: a longer training, or other diagnostics of the same model.
SAFE_TO_CHANGE = {"epochs", *course3_report.SAFE_TO_CHANGE}
EPOCHS, BATCH_SIZE, LEARNING_RATE = 5, 256, 3e-3


def build_parser():
    parser = cli.experiment_parser(EXPERIMENT, DESCRIPTION)
    add_data_flags(parser)
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=EPOCHS, help="passes over the training split")
    cli.add_batch_size_flag(train, BATCH_SIZE)
    cli.add_learning_rate_flag(train, LEARNING_RATE)
    train.add_argument(
        "--width", type=int, default=32, help="filters in the first conv layer (doubles after)"
    )
    train.add_argument(
        "--stem-stride",
        type=int,
        choices=(1, 2),
        default=2,
        help="stride of the first conv layer: 2 (default) works on half the height and width from the "
        "start, far cheaper on a CPU; 1 keeps full resolution",
    )
    add_report_flags(parser, label_issue_folds=3, learning_curve="none")
    return parser


def build_model(input_shape, num_classes: int, width: int, stem_stride: int = 2) -> keras.Model:
    """A small CNN: two conv-BN-ReLU-pool stages (the first conv strided by `stem_stride`), a dense head."""
    inputs = keras.Input(input_shape)
    x = inputs
    for stage, filters in enumerate((width, 2 * width)):
        stride = stem_stride if stage == 0 else 1
        x = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.ReLU()(x)
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(4 * width, activation="relu")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="small_cnn")


def compiled_model(
    input_shape,
    num_classes: int,
    width: int,
    learning_rate: float,
    stem_stride: int = 2,
    decay_steps: int | None = None,
) -> keras.Model:
    """The small CNN compiled as the job trains it (the main run, every K-fold and learning-curve model).

    With `decay_steps`, Adam's learning rate follows a cosine from
    `learning_rate` down to 1% of it over that many steps (Course 2, Week 2,
    "Learning rate decay"), then stays there; models trained for fewer
    steps (the K-fold and learning-curve models) see only its start.
    """
    model = build_model(input_shape, num_classes, width, stem_stride)
    if decay_steps:
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps, alpha=0.01)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    check_data_flags(args)
    cli.check_at_least(args, 1, "epochs", "batch_size", "width")
    options = report_options(args)
    data = cli.load_or_fail(mismatch_data, args)
    run = start_run(EXPERIMENT, vars(args), safe_to_change=SAFE_TO_CHANGE)
    print(f"Run directory: {run.dir}\n{data.split.report()}")
    run.save_json("data.json", data.to_json())
    run.once("examples", log_examples, run, data)
    build = functools.partial(
        compiled_model,
        data.image_shape,
        data.num_classes,
        args.width,
        args.learning_rate,
        args.stem_stride,
        decay_steps=args.epochs * math.ceil(len(data.split.train) / args.batch_size),
    )
    with make_strategy(args.strategy).scope():
        model = build()
    fit_with_decomposition(run, model, data, options)
    end_of_run_report(
        run, model, data, options, title=f"Mismatch: {data.description}", step=args.epochs, build_model=build
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
