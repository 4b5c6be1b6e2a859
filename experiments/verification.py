"""One-shot verification: a triplet-loss encoder trained on 7 Fashion-MNIST classes, tested on 3 unseen ones.

Course 4, Week 4 ("What is face recognition?", "One-shot learning", "Siamese
network", "Triplet loss", "Face verification and binary classification"),
with clothes instead of faces: a class plays an identity. The encoder f(x)
(three convolution stages, a dense layer, L2 normalization: encodings on
the unit sphere) is trained with kerasdl's `TripletLoss` on the 7 seen
classes only, and judged on 3 classes it never saw (--unseen-classes), as
a face-recognition system meets new people. The default unseen classes are
0 T-shirt/top, 1 Trouser and 7 Sneaker: one top, one pair of trousers, one
shoe. Unseen classes that look like seen ones (3 Dress, 5 Sandal, 8 Bag)
are much harder, for the encoder more than for raw pixels: from seven
classes it learns what tells those seven apart, which transfers only in part.

Data: Fashion-MNIST from Debian's dataset-fashion-mnist, offline (70,000
28x28 images, 10 classes; `pipelines.sources`). Training: the first
--train-size training-split images of the seen classes (the first
--train-eval-size of them measured for the curves). Curves only: the first
--dev-size test-split images of the seen classes ("dev"). Unseen
validation: the first --validation-size training-split images of the unseen
classes, never trained on; the verification threshold tau is chosen here.
Unseen test: the 3,000 test-split images of the unseen classes, used once
at the end.

Mining (--mining, one variant each, trained from the same start on the
same batches): semi_hard (FaceNet's), all (batch all), hard (batch hard),
as `kerasdl.nn.triplet` defines them exactly, and random: the lesson's
"if A, P, N are chosen randomly" (one uniformly drawn negative per
anchor-positive pair; a resumed run draws other negatives than an
uninterrupted one would). Batches are random draws of --batch-size seen
images.

Each variant is scored on the unseen classes: verification ("same class?"
when d(x_i, x_j) = ||f(x_i) - f(x_j)||^2 <= tau) on --pairs random pairs, half
of one class: ROC and AUC on the test pairs, tau chosen for accuracy on the
validation pairs and the test accuracy at that tau
(`kerasdl.evaluation.verification`); and one-shot identification: 3-way
episodes with one example per class, a query goes to its nearest example
(--episodes episodes on the test images). Raw pixels are scored the same
way as a baseline. Then the lesson's alternative: a logistic unit on
|f(x_i) - f(x_j)| or on the chi-square form (`kerasdl.nn.siamese`), trained on
--head-pairs pairs of seen training images over the frozen, saved encoder of
--head-variant (loaded back with kerasdl's safe loader), its threshold on
y-hat chosen on the validation pairs too.

Run:
    python -m experiments.verification                           # 4 mining variants, ~3.6 CPU minutes
    python -m experiments.verification --mining semi_hard,random --epochs 8
    python -m experiments.verification --unseen-classes 3,5,8    # Dress, Sandal, Bag: harder to tell apart
    python -m experiments.verification --resume                  # continue an interrupted run
    tensorboard --logdir logs/verification

In TensorBoard: Time Series "auc" overlays per epoch the runs
<mining>/unseen_validation (and one point of <mining>/test at the end);
"error" is 1 - one-shot accuracy (7-way on <mining>/train and /dev, 3-way on
the unseen), "loss" the batch-all triplet loss on fixed batches, the same
measure for every variant. Images "roc" draws the test ROC of every
variant, the heads and the pixels. The Projector, run projector/<variant>,
shows the unseen test images' encodings with their pictures and classes.
Text "summary" has the table. results.json has, per variant,
<mining>/test_auc, /test_accuracy, /threshold, /one_shot_accuracy and
/validation_auc, the same of pixels/, and head_<form>/test_auc and
/test_accuracy; the encoders are saved as models/<mining>.keras.
"""

from __future__ import annotations

import sys

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from PIL import Image, ImageDraw

from kerasdl.evaluation.verification import (
    choose_threshold,
    one_shot_accuracy,
    one_shot_episodes,
    pair_distances,
    roc_auc,
    roc_curve,
    sample_pairs,
    threshold_accuracy,
)
from kerasdl.harness.cli import check_at_least, experiment_parser, fail, load_or_fail, parse_subset
from kerasdl.harness.curves import EpochCurves
from kerasdl.harness.projector import write_projector
from kerasdl.harness.run import Run, start_run
from kerasdl.harness.variants import train_variants
from kerasdl.nn.siamese import FORMS, SiameseHead
from kerasdl.nn.triplet import TripletLoss, pairwise_distances, triplet_loss
from kerasdl.training.distribute import make_strategy
from kerasdl.training.saving import load_model, save_model
from pipelines.datasets import shuffled_batches
from pipelines.sources import FASHION_MNIST_CLASSES, fashion_mnist

EXPERIMENT = "verification"
MINING = ("semi_hard", "all", "hard", "random")
DEFAULT_UNSEEN = "0,1,7"  # T-shirt/top, Trouser, Sneaker: one of each kind of item
EVAL_BATCH = 256  # images per fixed batch of the curves' triplet loss
# The flag a resumed run may change: how many test encodings the Projector shows (nothing else is scored).
SAFE_TO_CHANGE = {"projector_size"}


def build_parser():
    parser = experiment_parser(EXPERIMENT, __doc__)
    data = parser.add_argument_group("data")
    data.add_argument(
        "--unseen-classes", default=DEFAULT_UNSEEN, help="the 3 (or more) classes held out of training"
    )
    data.add_argument("--train-size", type=int, default=12000, help="seen-class training images")
    data.add_argument("--dev-size", type=int, default=2000, help="seen-class test images, for the curves")
    data.add_argument(
        "--train-eval-size", type=int, default=2000, help="training images the training curves measure"
    )
    data.add_argument(
        "--validation-size", type=int, default=3000, help="unseen-class images the threshold is chosen on"
    )
    data.add_argument("--pairs", type=int, default=4000, help="verification pairs, validation and test each")
    data.add_argument("--episodes", type=int, default=2000, help="one-shot episodes on the test images")
    data.add_argument("--data-dir", default=None, help="folder with the Fashion-MNIST IDX files")
    model = parser.add_argument_group("model")
    model.add_argument("--embedding-size", type=int, default=64, help="dimensions of the encoding f(x)")
    model.add_argument("--width", type=int, default=16, help="filters of the first stage, doubled per stage")
    train = parser.add_argument_group("training")
    train.add_argument("--mining", default=",".join(MINING), help=f"variants, a subset of {MINING}")
    train.add_argument("--margin", type=float, default=0.2, help="alpha of the triplet loss")
    train.add_argument("--epochs", type=int, default=4, help="passes over the training images")
    train.add_argument(
        "--batch-size", type=int, default=128, help="images per batch (triplets are mined in it)"
    )
    train.add_argument("--learning-rate", type=float, default=2e-3, help="Adam's alpha")
    head = parser.add_argument_group("binary head")
    head.add_argument("--head-forms", default=",".join(FORMS), help=f"a subset of {FORMS}, or 'none'")
    head.add_argument("--head-variant", default=None, help="the encoder under the heads (first --mining)")
    head.add_argument("--head-pairs", type=int, default=20000, help="pairs of seen training images")
    head.add_argument("--head-epochs", type=int, default=10, help="passes over the head's pairs")
    parser.add_argument(
        "--projector-size", type=int, default=3000, help="unseen test images shown in the Projector"
    )
    return parser


def check_flags(args) -> tuple[list[int], list[str], list[str]]:
    """One `error:` line for a bad flag; returns the unseen classes, mining variants and head forms."""
    check_at_least(args, 1, "train_size", "dev_size", "epochs", "batch_size", "embedding_size", "width")
    check_at_least(args, 1, "episodes", "head_epochs", "projector_size", "train_eval_size")
    check_at_least(args, 2, "pairs", "head_pairs")
    check_at_least(args, 4, "validation_size")
    try:
        unseen = sorted({int(c) for c in args.unseen_classes.split(",")})
    except ValueError:
        unseen = []
    if len(unseen) < 2 or not set(unseen) <= set(range(10)) or len(unseen) > 8:
        fail(f"--unseen-classes must be 2 to 8 class numbers in 0-9; received {args.unseen_classes!r}")
    mining = parse_subset("--mining", args.mining, MINING)
    forms = [] if args.head_forms == "none" else parse_subset("--head-forms", args.head_forms, FORMS)
    args.head_variant = args.head_variant or mining[0]
    if args.head_variant not in mining:
        fail(f"--head-variant must be one of --mining {mining}; received {args.head_variant!r}")
    if not args.margin >= 0:
        fail(f"--margin must be a number >= 0; received {args.margin}")
    if not args.learning_rate > 0:
        fail(f"--learning-rate must be a positive number; received {args.learning_rate}")
    return unseen, mining, forms


# -- data --------------------------------------------------------------------------------------------------


class Split:
    """Images and labels of one split, with its fixed verification pairs and one-shot episodes."""

    def __init__(
        self, name: str, images: np.ndarray, labels: np.ndarray, pairs: int, episodes: int, seed: int
    ):
        self.name, self.images, self.labels = name, images, labels
        self.pairs = sample_pairs(labels, pairs, seed)
        self.episodes = one_shot_episodes(labels, episodes, seed)


def load_data(args, unseen: list[int]) -> dict[str, Split]:
    """The four splits of the module docstring (`seed` fixes the pairs and episodes of each)."""
    train, test = (load_or_fail(fashion_mnist, split, args.data_dir) for split in ("train", "test"))
    seen_train, seen_test = ~np.isin(train.labels, unseen), ~np.isin(test.labels, unseen)
    parts = {
        "train": (train.images[seen_train], train.labels[seen_train], args.train_size),
        "dev": (test.images[seen_test], test.labels[seen_test], args.dev_size),
        "unseen_validation": (train.images[~seen_train], train.labels[~seen_train], args.validation_size),
        "unseen_test": (test.images[~seen_test], test.labels[~seen_test], None),
    }
    parts["train_eval"] = (*parts["train"][:2], min(args.train_eval_size, args.train_size))
    episodes = {"unseen_test": args.episodes}
    return {
        name: Split(
            name.removesuffix("_eval"),
            images[:size],
            labels[:size],
            args.pairs,
            episodes.get(name, 500),
            args.seed + k,
        )
        for k, (name, (images, labels, size)) in enumerate(parts.items())
    }


# -- model -------------------------------------------------------------------------------------------------


def build_encoder(args) -> keras.Model:
    """f(x): [Conv 3x3-BN-ReLU-MaxPool] x 3 (width, 2 width, 4 width filters), Dense, L2 normalization."""
    inputs = keras.Input((28, 28, 1), name="image")
    x = keras.layers.Rescaling(1 / 255, name="scale")(inputs)
    for stage in range(3):
        x = keras.layers.Conv2D(
            args.width * 2**stage, 3, padding="same", use_bias=False, name=f"stage{stage + 1}_conv"
        )(x)
        x = keras.layers.BatchNormalization(name=f"stage{stage + 1}_bn")(x)
        x = keras.layers.ReLU(name=f"stage{stage + 1}_relu")(x)
        x = keras.layers.MaxPooling2D(name=f"stage{stage + 1}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(args.embedding_size, name="encoding")(x)
    outputs = keras.layers.UnitNormalization(name="unit_sphere")(x)
    return keras.Model(inputs, outputs, name="encoder")


class RandomTripletLoss(keras.losses.Loss):
    """The lesson's random triplets: for each anchor-positive pair of the batch, one negative drawn uniformly.

    L = max(d(A, P) - d(A, N) + alpha, 0), averaged over the batch's
    anchor-positive pairs whose anchor has a negative (a batch without any
    gives 0), d squared Euclidean. Its expectation over the draws is the
    batch-all loss; the draws are new each step.
    """

    def __init__(self, margin: float, seed: int):
        super().__init__(name="random_triplet_loss")
        self.margin = margin
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, y_true, y_pred):
        labels = ops.reshape(y_true, (-1,))
        d = pairwise_distances(y_pred)
        same = ops.equal(labels[:, None], labels[None, :])
        positive = ops.logical_and(same, ops.logical_not(ops.cast(ops.eye(ops.shape(d)[0]), "bool")))
        negative = ops.logical_not(same)
        size = ops.shape(d)[0]
        draws = keras.random.uniform((size, size, size), seed=self.seed_generator)  # [a, p, n]
        chosen = ops.argmax(ops.where(negative[:, None, :], draws, -1.0), axis=-1)  # [a, p]
        d_an = ops.take_along_axis(ops.broadcast_to(d[:, None, :], (size, size, size)), chosen[..., None], -1)
        losses = ops.relu(d - d_an[..., 0] + self.margin)
        mask = ops.cast(ops.logical_and(positive, ops.any(negative, axis=1)[:, None]), losses.dtype)
        return ops.sum(losses * mask) / ops.maximum(ops.sum(mask), 1.0)


def triplet_loss_for(mining: str, args):
    if mining == "random":
        return RandomTripletLoss(args.margin, args.seed)
    return TripletLoss(args.margin, mining=mining)


# -- evaluation ----------------------------------------------------------------------------------------------


def encode(encoder: keras.Model, images: np.ndarray) -> np.ndarray:
    return encoder.predict(images, batch_size=500, verbose=0)


class EncoderEvaluator:
    """`evaluate(split)` for `EpochCurves`: "loss" and "accuracy" of a split, and its AUC in `last[split]`.

    "loss" is the batch-all triplet loss over fixed batches of the split (one
    measure for every mining variant), "accuracy" the one-shot accuracy of its
    episodes, `last[split]` the verification AUC of its pairs.
    """

    def __init__(self, encoder: keras.Model, margin: float):
        self.encoder, self.margin = encoder, margin
        self.last: dict[str, float] = {}

    @property
    def optimizer(self):
        return self.encoder.optimizer

    def evaluate(self, split: Split) -> dict:
        encodings = encode(self.encoder, split.images)
        losses = [
            float(
                triplet_loss(
                    split.labels[k : k + EVAL_BATCH], encodings[k : k + EVAL_BATCH], self.margin, "all"
                )
            )
            for k in range(0, len(encodings), EVAL_BATCH)
        ]
        self.last[split.name] = roc_auc(split.pairs.same, -pair_distances(encodings, split.pairs))
        return {"loss": float(np.mean(losses)), "accuracy": one_shot_accuracy(encodings, split.episodes)}


class AucCurves(keras.callbacks.Callback):
    """After `EpochCurves`: "auc" of each evaluated split, beside its loss and error."""

    def __init__(self, run: Run, evaluator: EncoderEvaluator, prefix: str):
        super().__init__()
        self.run, self.evaluator, self.prefix = run, evaluator, prefix

    def on_epoch_end(self, epoch, logs=None):
        for split, auc in self.evaluator.last.items():
            self.run.curves.log(f"{self.prefix}/{split}", "auc", epoch + 1, auc)
        self.run.curves.save()


def verification_scores(
    validation_scores, test_scores, data: dict[str, Split], curve_points: int = 200
) -> dict:
    """AUCs, tau chosen on the validation pairs, the test accuracy at tau and the test ROC (thinned)."""
    validation, test = data["unseen_validation"].pairs, data["unseen_test"].pairs
    chosen = choose_threshold(validation.same, validation_scores)
    fpr, tpr, _ = roc_curve(test.same, test_scores)
    keep = np.unique(np.linspace(0, len(fpr) - 1, curve_points).round().astype(int))
    predicted_same = test_scores >= chosen.threshold
    return {
        "validation_auc": roc_auc(validation.same, validation_scores),
        "validation_accuracy": chosen.accuracy,
        "test_auc": roc_auc(test.same, test_scores),
        "test_accuracy": threshold_accuracy(test.same, test_scores, chosen.threshold),
        "test_true_positive_rate": float(np.mean(predicted_same[test.same])),
        "test_false_positive_rate": float(np.mean(predicted_same[~test.same])),
        "score_threshold": chosen.threshold,
        "roc": {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()},
    }


def score_encodings(validation: np.ndarray, test: np.ndarray, data: dict[str, Split]) -> dict:
    """Verification by distance (tau = -score threshold) and one-shot accuracy, from the two encodings."""
    results = verification_scores(
        -pair_distances(validation, data["unseen_validation"].pairs),
        -pair_distances(test, data["unseen_test"].pairs),
        data,
    )
    results["threshold"] = -results.pop("score_threshold")  # same when d <= tau
    results["one_shot_accuracy"] = one_shot_accuracy(test, data["unseen_test"].episodes)
    return results


def pixel_baseline(data: dict[str, Split]) -> dict:
    """The same scores with raw pixels (scaled to [0, 1]) as encodings: what the encoder has to beat."""
    flat = {
        name: data[name].images.reshape(len(data[name].images), -1) / 255.0
        for name in ("unseen_validation", "unseen_test")
    }
    return score_encodings(flat["unseen_validation"], flat["unseen_test"], data)


def train_variant(run: Run, mining: str, data: dict[str, Split], args) -> dict:
    """Trains one encoder (curves, backup), saves it as models/<mining>.keras, scores it on unseen test."""
    keras.utils.set_random_seed(args.seed)  # every variant: the same initial weights and batches
    with make_strategy(args.strategy, batch_size=args.batch_size).scope():
        encoder = build_encoder(args)
        encoder.compile(
            keras.optimizers.Adam(args.learning_rate), triplet_loss_for(mining, args), jit_compile=False
        )
    evaluator = EncoderEvaluator(encoder, args.margin)
    curves = EpochCurves(
        run.curves,
        {"train": data["train_eval"], "dev": data["dev"], "unseen_validation": data["unseen_validation"]},
        prefix=mining,
        gap_splits=("train", "dev"),
        evaluator=evaluator,
    )
    train = data["train"]
    batches = shuffled_batches(train.images, train.labels, args.batch_size, args.seed)
    encoder.fit(
        batches,
        epochs=args.epochs,
        callbacks=[curves, AucCurves(run, evaluator, mining), *run.resume_callbacks(batches, name=mining)],
        shuffle=False,
        verbose=1 if sys.stdout.isatty() else 2,
    )
    # The encoder alone, without its compiled loss: what users load (kerasdl's safe loader) and reuse.
    save_model(
        keras.Model(encoder.inputs, encoder.outputs, name="encoder"), run.dir / "models" / f"{mining}.keras"
    )
    results = score_encodings(
        encode(encoder, data["unseen_validation"].images), encode(encoder, data["unseen_test"].images), data
    )
    run.curves.log(f"{mining}/test", "auc", args.epochs, results["test_auc"])
    run.curves.log(f"{mining}/test", "error", args.epochs, 1 - results["one_shot_accuracy"])
    run.curves.save()
    return results


def train_head(run: Run, form: str, data: dict[str, Split], args) -> dict:
    """The logistic unit on phi(f(x_i), f(x_j)) over the saved, frozen encoder; scored on the unseen pairs."""
    encoder = load_model(run.dir / "models" / f"{args.head_variant}.keras")
    train = data["train"]
    pairs = sample_pairs(train.labels, args.head_pairs, args.seed + 10)
    encodings = encode(encoder, train.images)
    keras.utils.set_random_seed(args.seed)
    first, second = keras.Input((args.embedding_size,)), keras.Input((args.embedding_size,))
    with make_strategy(args.strategy).scope():
        head = keras.Model(
            [first, second], SiameseHead(form, name="head")([first, second]), name=f"head_{form}"
        )
        head.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    history = head.fit(
        [encodings[pairs.first], encodings[pairs.second]],
        pairs.same.astype("float32"),
        epochs=args.head_epochs,
        batch_size=256,
        verbose=0,
    )

    def probabilities(split: Split) -> np.ndarray:
        e = encode(encoder, split.images)
        return head.predict([e[split.pairs.first], e[split.pairs.second]], batch_size=2000, verbose=0)[:, 0]

    test_probabilities = probabilities(data["unseen_test"])
    results = verification_scores(probabilities(data["unseen_validation"]), test_probabilities, data)
    results["test_accuracy_at_one_half"] = threshold_accuracy(
        data["unseen_test"].pairs.same, test_probabilities, 0.5
    )
    results["train_pair_accuracy"] = float(history.history["accuracy"][-1])
    return results


def write_embeddings(run: Run, data: dict[str, Split], args) -> str:
    """The unseen test images' encodings (--head-variant's) to the Projector, with sprite and class names."""
    encoder = load_model(run.dir / "models" / f"{args.head_variant}.keras")
    test = data["unseen_test"]
    count = min(args.projector_size, len(test.images))
    labels = [FASHION_MNIST_CLASSES[c] for c in test.labels[:count]]
    folder = write_projector(
        run.dir / "projector",
        args.head_variant,
        labels,
        encode(encoder, test.images[:count]),
        sprite=test.images[:count],
    )
    return str(folder.relative_to(run.dir))


COLOURS = [
    (31, 119, 180),
    (214, 39, 40),
    (44, 160, 44),
    (148, 103, 189),
    (255, 127, 14),
    (23, 190, 207),
    (227, 119, 194),
    (127, 127, 127),
]


def roc_image(curves: dict[str, dict], size: int = 320, margin: int = 30) -> np.ndarray:
    """The test ROC curves (name -> {"fpr", "tpr"}, with "test_auc") in one chart: uint8 [H, W, 3]."""
    legend = 14 * len(curves)
    picture = Image.new("RGB", (size + margin + 10, size + margin + 10 + legend), "white")
    draw = ImageDraw.Draw(picture)

    def point(x, y):
        return margin + x * size, 10 + (1 - y) * size

    draw.rectangle([*point(0, 1), *point(1, 0)], outline="black")
    draw.line([point(0, 0), point(1, 1)], fill=(200, 200, 200))
    for tick in (0.0, 0.5, 1.0):
        draw.text((point(tick, 0)[0] - 6, size + 14), f"{tick:g}", fill="black")
        draw.text((4, point(0, tick)[1] - 6), f"{tick:g}", fill="black")
    draw.text(
        (margin + size // 2 - 110, size + 24), "x: false-positive rate, y: true-positive rate", fill="black"
    )
    for k, (name, curve) in enumerate(curves.items()):
        colour = COLOURS[k % len(COLOURS)]
        draw.line(
            [point(x, y) for x, y in zip(curve["roc"]["fpr"], curve["roc"]["tpr"], strict=True)],
            fill=colour,
            width=2,
        )
        draw.text((margin, size + margin + 10 + 14 * k), f"{name}: AUC {curve['test_auc']:.3f}", fill=colour)
    return np.asarray(picture)


def log_roc(run: Run, curves: dict[str, dict], step: int) -> None:
    with run.writer("roc").as_default():
        tf.summary.image("roc", roc_image(curves)[None], step=step)


def summary_text(args, unseen, results: dict, baseline: dict, heads: dict) -> str:
    names = ", ".join(f"{c} {FASHION_MNIST_CLASSES[c]}" for c in unseen)
    lines = [
        f"# One-shot verification on unseen classes ({names})",
        "",
        f"Encoders trained with the triplet loss (margin {args.margin}) on the other "
        f"{10 - len(unseen)} classes, {args.train_size:,} images, {args.epochs} epochs. Unseen test: "
        f"{args.pairs:,} pairs (tau chosen on {args.pairs:,} validation pairs), "
        f"{args.episodes:,} one-shot episodes of {len(unseen)} classes.",
        "",
        "| encoder | test AUC | test accuracy at tau | tau (chosen on validation) | one-shot accuracy |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in {**results, "pixels (baseline)": baseline}.items():
        lines.append(
            f"| {name} | {r['test_auc']:.4f} | {r['test_accuracy']:.4f} | {r['threshold']:.3f} | "
            f"{r['one_shot_accuracy']:.4f} |"
        )
    if heads:
        lines += [
            "",
            f"Binary heads on the frozen {args.head_variant} encoder:",
            "",
            "| head | test AUC | test accuracy at the validation threshold | at 0.5 |",
            "|---|---:|---:|---:|",
        ]
        lines += [
            f"| {form} | {r['test_auc']:.4f} | {r['test_accuracy']:.4f} | "
            f"{r['test_accuracy_at_one_half']:.4f} |"
            for form, r in heads.items()
        ]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    unseen, mining, forms = check_flags(args)
    data = load_data(args, unseen)
    run = start_run(EXPERIMENT, vars(args), safe_to_change=SAFE_TO_CHANGE)
    print(
        f"Run directory: {run.dir}\n"
        + "; ".join(f"{name}: {len(split.images):,} images" for name, split in data.items())
    )
    baseline = run.once("baseline", pixel_baseline, data)
    results = train_variants(run, mining, lambda name: train_variant(run, name, data, args))
    heads = {form: run.once(f"head/{form}", train_head, run, form, data, args) for form in forms}
    run.once("projector", write_embeddings, run, data, args)
    run.once(
        "roc",
        log_roc,
        run,
        {**results, **{f"head {f}": r for f, r in heads.items()}, "pixels": baseline},
        args.epochs,
    )
    figures = ("test_auc", "test_accuracy", "threshold", "one_shot_accuracy", "validation_auc")
    metrics = {f"{name}/{key}": r[key] for name, r in results.items() for key in figures}
    metrics |= {f"pixels/{key}": baseline[key] for key in figures}
    metrics |= {
        f"head_{form}/{key}": r[key] for form, r in heads.items() for key in ("test_auc", "test_accuracy")
    }
    run.finish(
        metrics=metrics,
        details={"unseen_classes": unseen, "variants": results, "baseline": baseline, "heads": heads},
        summary=summary_text(args, unseen, results, baseline, heads),
        step=args.epochs,
        echo=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
