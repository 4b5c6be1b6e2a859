"""Data augmentation, multi-crop at test time and ensembles on Fashion-MNIST.

Course 4, Week 2: "Data augmentation" (mirroring, random cropping, rotation,
shearing, local warping, colour shifting, done online in parallel with
training) and "Tips for doing well on benchmarks" (ensembling: train several
networks independently and average their outputs; multi-crop at test time:
average the classifier over 10 crops of each test image).

Four methods, one table:

1. baseline: a small CNN trained on the centre 24x24 crop of every image,
   no augmentation;
2. augmentation: the same CNN trained on random 24x24 crops with the other
   augmentations of `--augment`, evaluated on the centre crop;
3. multicrop (augmentation + 10-crop): model 2 evaluated on the 4 corner and
   the centre 24x24 crops of each 28x28 test image, each also mirrored,
   averaged;
4. ensemble: `--members` networks trained like model 2 with different seeds
   (model 2 is the first), outputs averaged, evaluated on the centre crop.

Why 24x24 crops: AlexNet trained on random 224x224 patches of 256x256
images and tested on ten such patches; the lesson's 10-crop picture is that
protocol. Fashion-MNIST's 28x28 images play the 256 and 24x24 crops the 224
(the same 86% ratio), so every model takes 24x24 inputs and the baseline sees
the centre crop, the view a single-crop evaluation uses.

The default (quick) profile: 4,000 training images, 30 epochs, Adam 3e-3
with cosine decay, `--augment crop=0,flip=0.5` (AlexNet's pair: random
24x24 windows, i.e. shifts of +-2 px, and mirroring, which the 10 crops
undo). What to look for: whether augmentation closes the baseline's
train/dev gap, and whether it then costs training error (bias) instead;
whether the 10 crops and the ensemble gain more than one run's batch order
moves (one standard error of an accuracy on 10,000 test images is
sqrt(p (1 - p) / 10,000)), and at what prediction cost.

Run:
    python -m experiments.augmentation                    # quick profile: 4,000 images, 30 epochs
    python -m experiments.augmentation --profile full     # 50,000 images, 15 epochs
    python -m experiments.augmentation --augment "crop=0,flip=0.5,warp=1.5" --members 5
    python -m experiments.augmentation --offline-copies 2   # augment once, to disk, then train
    python -m experiments.augmentation --resume --layout 5  # finish the last run, another layout
    tensorboard --logdir logs/augmentation

In TensorBoard: Images "augmentation/examples" (each row an image, then five
augmented versions of it) and "multicrop/ten_crops" (the ten crops of two
test images). Time Series overlays, after every epoch, "loss" and "error"
(1 - accuracy) of each network's runs <network>/train (a fixed subset of the
training images, centre crop, in inference mode) and <network>/dev (dev,
centre crop), and "gap" (dev error - train error) of <network>/gaps:
compare baseline/ with augmented_seed0/. HParams (Table view) has one row
per method (hyperparameter "method") with test_accuracy, vs_baseline,
train_seconds, predict_seconds and parameters; Text "summary" holds the
table, the 10-crop flip counts and the ensemble's members.

Results (results.json): metrics "<method>/<figure>" for the four methods,
plus "multicrop/gain", "multicrop/p_value", "multicrop/time_ratio",
"ensemble/gain", "ensemble/gain_over_best", "ensemble/p_value_over_best" and
"ensemble/cost_ratio_predict"; details "rows" (the table), "multicrop",
"multicrop_baseline" and "ensemble" (the full reports) and "augmenter".
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from kerasdl.evaluation.ensemble import Member, evaluate_ensemble, train_members
from kerasdl.evaluation.multicrop import CropLayout, crop_layout, evaluate_multicrop, extract_crops
from kerasdl.harness import cli
from kerasdl.harness.comparison import log_comparison
from kerasdl.harness.curves import EpochCurves
from kerasdl.harness.run import Run, start_run
from kerasdl.training.distribute import make_strategy
from pipelines.augment import STRENGTH_MEANING, Augmenter
from pipelines.datasets import read_augmented, to_dataset, write_augmented
from pipelines.normalize import Standardizer
from pipelines.sources import ImageSource
from pipelines.splits import split_by_hash

EXPERIMENT = "augmentation"
# name: (train images, dev images, test images, epochs)
PROFILES = {"quick": (4_000, 2_000, 10_000, 30), "full": (50_000, 10_000, 10_000, 15)}
# AlexNet's pair: random 24x24 windows (shifts of +-2 px) and mirroring, exactly what the 10 crops undo.
DEFAULT_AUGMENT = "crop=0,flip=0.5"
SPLITS = ("train", "dev")  # the curves of every network: train error against dev error
AUGMENTED_COPIES = "augmented_train.npz"  # --offline-copies: the augmented training set, in the run
# Flags a resumed run may change: they only change the test-time evaluation and the example images.
# (Not --epochs: the cosine decay reaches 0 at the last step, so more epochs is another schedule.)
SAFE_TO_CHANGE = {"layout", "aggregate", "examples"}


def build_parser():
    parser = cli.experiment_parser(EXPERIMENT, __doc__)
    data = parser.add_argument_group("data")
    data.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="quick",
        help="sizes and epochs: quick (4k images, 30 epochs) or full (50k images, 15 epochs)",
    )
    cli.add_data_dir_flag(data)
    data.add_argument(
        "--train-size", type=int, default=None, help="training images (default: from --profile)"
    )
    data.add_argument("--dev-size", type=int, default=None, help="dev images for the validation curves")
    data.add_argument("--test-size", type=int, default=None, help="test images for the final table")
    augment = parser.add_argument_group("augmentation and test-time evaluation")
    ops = "; ".join(f"{name}: {meaning}" for name, meaning in STRENGTH_MEANING.items())
    augment.add_argument(
        "--augment",
        default=DEFAULT_AUGMENT,
        help=f"ops as name=strength, comma-separated; '!name=s' keeps an op switched off. {ops}",
    )
    augment.add_argument(
        "--crop-size", type=int, default=24, help="side of the square crops every model takes"
    )
    augment.add_argument(
        "--layout", default="10", help="multi-crop layout: 1, 2, 5, 10, grid<K>, grid<K>+mirror"
    )
    augment.add_argument(
        "--aggregate", choices=("mean", "max"), default="mean", help="how crops are combined"
    )
    augment.add_argument(
        "--offline-copies",
        type=int,
        default=0,
        help="if > 0, write this many augmented copies of the training set to the run directory "
        "and train the augmented models on them (augmentation on disk) instead of online",
    )
    augment.add_argument("--examples", type=int, default=8, help="images shown augmented in TensorBoard")
    cli.add_train_eval_size_flag(
        data, help="training error is measured after every epoch on the first N training images (centre crop)"
    )
    train = parser.add_argument_group("training")
    train.add_argument(
        "--epochs", type=int, default=None, help="passes over the training set (default: from --profile)"
    )
    cli.add_batch_size_flag(train, 128)
    cli.add_learning_rate_flag(train, 3e-3, note="the initial one, cosine-decayed to 0")
    train.add_argument(
        "--width", type=int, default=32, help="filters in the first convolution (doubled in the second)"
    )
    train.add_argument(
        "--members", type=int, default=3, help="networks in the ensemble (the augmented model is one)"
    )
    return parser


def build_model(crop_size: int, channels: int, num_classes: int, width: int) -> keras.Model:
    """Conv-BN-ReLU-pool twice, then a dense layer and softmax (Course 4, Week 1: a simple CNN)."""
    layers = [keras.Input((crop_size, crop_size, channels))]
    for filters in (width, 2 * width):
        layers += [
            keras.layers.Conv2D(filters, 3, padding="same", use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.MaxPooling2D(),
        ]
    layers += [
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(num_classes, activation="softmax"),
    ]
    return keras.Sequential(layers)


def mosaic(rows: list[np.ndarray], tile: int, zoom: int = 3) -> np.ndarray:
    """Tiles images [H, W, C], one list per row, into one uint8 image [1, ...], each centred in its tile."""
    channels = rows[0][0].shape[-1]
    out = np.zeros((len(rows) * tile, max(len(r) for r in rows) * tile, channels), np.uint8)
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            top, left = (tile - image.shape[0]) // 2, (tile - image.shape[1]) // 2
            out[
                i * tile + top : i * tile + top + image.shape[0],
                j * tile + left : j * tile + left + image.shape[1],
            ] = np.clip(np.round(image), 0, 255).astype(np.uint8)
    return np.repeat(np.repeat(out, zoom, axis=0), zoom, axis=1)[None]


def log_examples(run, images: np.ndarray, augmenter: Augmenter, layout, count: int) -> None:
    """Original images beside 5 augmentations each, and the crops of one layout."""
    images = images[:count]
    augmented = [augmenter(images, [7, k]).numpy() for k in range(5)]
    rows = [[images[i]] + [a[i] for a in augmented] for i in range(len(images))]
    crops = extract_crops(images[:2].astype(np.float32), layout).numpy()
    with run.writer("examples").as_default():
        tf.summary.image("augmentation/examples", mosaic(rows, images.shape[1]), step=0)
        tf.summary.image("multicrop/ten_crops", mosaic([list(c) for c in crops], images.shape[1]), step=0)


@dataclass
class Data:
    """The images every network is trained and measured on.

    Attributes:
        train: the training images (uint8, full size).
        standardizer: the training set's per-channel statistics.
        centre: images [B, H, W, C] -> their centre crops, what the
            baseline trains on and every curve measures.
        train_eval: a fixed subset of `train`, centre crops, for the curves.
        dev: the dev images, centre crops, for the curves.
    """

    train: ImageSource
    standardizer: Standardizer
    centre: Callable[[tf.Tensor], tf.Tensor]
    train_eval: tf.data.Dataset
    dev: tf.data.Dataset


def centre_crop(images: tf.Tensor, layout: CropLayout) -> tf.Tensor:
    """The first crop of `layout` of each image: with layout "1", the centre window."""
    return extract_crops(images, layout)[:, 0]


def augment_on_disk(run: Run, train: ImageSource, augmenter: Augmenter, copies: int, seed: int) -> dict:
    """Writes `copies` augmented versions of the training set into the run (augmentation "on the disk")."""
    path = write_augmented(train, augmenter, run.dir / AUGMENTED_COPIES, copies, seed)
    print(f"Wrote {copies * len(train)} augmented training images to {path}")
    return {"file": AUGMENTED_COPIES, "images": copies * len(train)}


def compiled_model(args, data: Data, strategy: tf.distribute.Strategy, steps: int, seed: int) -> keras.Model:
    """The CNN, compiled with Adam on a cosine decay to 0 at step `steps` (`train_members` seeds it first).

    The learning rate is a function of the step, so a resumed network, whose
    optimizer step is restored, continues on the same schedule.
    """
    _, _, channels = data.train.image_shape
    with strategy.scope():
        model = build_model(args.crop_size, channels, data.train.num_classes, args.width)
        model.compile(
            optimizer=keras.optimizers.Adam(
                keras.optimizers.schedules.CosineDecay(args.learning_rate, steps)
            ),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    return model


def fit_model(
    run: Run,
    args,
    data: Data,
    source: ImageSource,
    augment: Callable[[tf.Tensor], tf.Tensor] | None,
    name: str,
    model: keras.Model,
    seed: int,
) -> None:
    """Trains `model` on `source` (seeded order and augmentation), as the run phase `train/<name>`.

    `name` may hold "{seed}"; it names the network's curves and backup folder.
    """
    name = name.format(seed=seed)
    batches = to_dataset(
        source, args.batch_size, shuffle=True, seed=seed, standardizer=data.standardizer, augment=augment
    )
    curves = EpochCurves(
        run.curves, {"train": data.train_eval, "dev": data.dev}, prefix=name, gap_splits=SPLITS
    )
    print(f"\n== training {name}", flush=True)
    with run.phase(f"train/{name}"):  # a fit that had finished trains no more and restores its weights
        model.fit(
            batches,
            epochs=args.epochs,
            # Backups last, after the epoch's points; one backup folder per network.
            callbacks=[curves, *run.resume_callbacks(batches, name=name)],
            shuffle=False,  # the dataset reshuffles itself every epoch
            verbose=1 if sys.stdout.isatty() else 2,
        )


def train_networks(run: Run, args, data: Data, augmented: ImageSource, online: Augmenter | None):
    """The baseline (centre crops) and the `--members` augmented networks; the first member is model 2."""
    strategy = make_strategy(args.strategy)

    def steps(source: ImageSource) -> int:
        return args.epochs * -(-len(source) // args.batch_size)

    baseline = train_members(
        functools.partial(compiled_model, args, data, strategy, steps(data.train)),
        functools.partial(fit_model, run, args, data, data.train, data.centre, "baseline"),
        [args.seed],
    )[0]
    members = train_members(
        functools.partial(compiled_model, args, data, strategy, steps(augmented)),
        functools.partial(fit_model, run, args, data, augmented, online, "augmented_seed{seed}"),
        [args.seed + k for k in range(args.members)],
    )
    return baseline, members


def evaluate_methods(args, data: Data, test: ImageSource, baseline: Member, members: list[Member]) -> dict:
    """The four methods on the test set: their rows and the multi-crop and ensemble reports (JSON)."""
    print("\n== evaluating on the test set", flush=True)
    images, labels, crop = data.standardizer(test.images), test.labels, (args.crop_size, args.crop_size)
    base_tta = evaluate_multicrop(baseline.model, images, labels, crop, args.layout, args.aggregate)
    tta = evaluate_multicrop(members[0].model, images, labels, crop, args.layout, args.aggregate)
    ensemble = evaluate_ensemble(members, data.centre(images).numpy(), labels)
    parameters, reference = baseline.model.count_params(), base_tta.single_accuracy
    augmented, combined = members[0], ensemble.ensemble
    figures = {  # method: (test accuracy, train seconds, predict seconds, parameters)
        "baseline": (reference, baseline.train_seconds, base_tta.single_seconds, parameters),
        "augmentation": (tta.single_accuracy, augmented.train_seconds, tta.single_seconds, parameters),
        "multicrop": (tta.multi_accuracy, augmented.train_seconds, tta.multi_seconds, parameters),
        "ensemble": (
            combined.accuracy,
            combined.train_seconds,
            combined.predict_seconds,
            combined.parameters,
        ),
    }
    rows = [
        {
            "method": method,
            "test_accuracy": float(accuracy),
            "vs_baseline": float(accuracy - reference),
            "train_seconds": float(train_seconds),
            "predict_seconds": float(predict_seconds),
            "parameters": int(count),
        }
        for method, (accuracy, train_seconds, predict_seconds, count) in figures.items()
    ]
    return {
        "rows": rows,
        "multicrop": tta.to_dict(),
        "multicrop_baseline": base_tta.to_dict(),
        "ensemble": ensemble.to_dict(),
    }


def flat_metrics(evaluation: dict) -> dict[str, float]:
    """ "<method>/<figure>" for every row, and the multi-crop and ensemble figures the lesson weighs."""
    metrics = {
        f"{row['method']}/{name}": value
        for row in evaluation["rows"]
        for name, value in row.items()
        if name != "method"
    }
    for report, names in (
        ("multicrop", ("gain", "p_value", "time_ratio")),
        ("ensemble", ("gain", "gain_over_best", "p_value_over_best", "cost_ratio_predict")),
    ):
        metrics.update({f"{report}/{name}": evaluation[report][name] for name in names})
    return metrics


def summary_text(title: str, table: str, evaluation: dict, layout: CropLayout, args) -> str:
    multicrop, baseline, ensemble = (evaluation[k] for k in ("multicrop", "multicrop_baseline", "ensemble"))
    members = ", ".join(f"{member['accuracy']:.4f}" for member in ensemble["members"])
    return "\n".join(
        [
            f"# {title}",
            "",
            table,
            "",
            f"multicrop = the augmented model on {len(layout)} crops ({args.aggregate}): "
            f"{multicrop['gain']:+.4f} accuracy; {multicrop['wrong_to_right']} predictions wrong -> right, "
            f"{multicrop['right_to_wrong']} right -> wrong (McNemar p = {multicrop['p_value']:.2g}); "
            f"predict time x{multicrop['time_ratio']:.1f}.",
            f"{len(layout)} crops on the baseline (trained on centre crops only): {baseline['gain']:+.4f}.",
            f"Ensemble members: {members}; ensemble {ensemble['ensemble']['accuracy']:.4f} "
            f"({ensemble['gain']:+.4f} over the mean member, "
            f"{ensemble['gain_over_best']:+.4f} over the best, "
            f"McNemar p = {ensemble['p_value_over_best']:.2g}); "
            f"predict time x{ensemble['cost_ratio_predict']:.1f}.",
            "Timings are wall time on a possibly shared machine.",
        ]
    )


def finish(run: Run, args, title: str, evaluation: dict, layout: CropLayout, augmenter: Augmenter) -> None:
    """Logs the four methods' table (HParams and text) and finishes the run with the summary, printed."""
    table = log_comparison(run, "method", evaluation["rows"], step=args.epochs)
    summary = summary_text(title, table, evaluation, layout, args)
    run.finish(
        metrics=flat_metrics(evaluation),
        details={"title": title, **evaluation, "augmenter": augmenter.describe()},
        summary=summary,
        step=args.epochs,
        echo=True,
    )


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    train_size, dev_size, test_size, epochs = PROFILES[args.profile]
    args.train_size = args.train_size or train_size
    args.dev_size = args.dev_size or dev_size
    args.test_size = args.test_size or test_size
    args.epochs = args.epochs or epochs
    sizes = ("train_size", "dev_size", "test_size", "train_eval_size", "epochs", "batch_size", "width")
    cli.check_at_least(args, 1, *sizes, "members", "crop_size")
    train_all, test = cli.fashion_mnist_train_test(args.data_dir, test_limit=args.test_size)
    parts = split_by_hash(train_all, {"train": 5 / 6, "dev": 1 / 6}, salt=f"augmentation/{args.seed}")
    train, dev = cli.first(parts["train"], args.train_size), cli.first(parts["dev"], args.dev_size)
    crop = (args.crop_size, args.crop_size)
    try:
        augmenter = Augmenter.from_spec(args.augment, crop_size=crop, train_images=train.images)
        centre = crop_layout(train.image_shape[:2], crop, "1")
        layout = crop_layout(train.image_shape[:2], crop, args.layout)
    except ValueError as error:
        cli.fail(str(error))

    run = start_run(EXPERIMENT, vars(args), safe_to_change=SAFE_TO_CHANGE)
    print(
        f"Run directory: {run.dir}\ntrain {len(train)}, dev {len(dev)}, test {len(test)} images; "
        f"augmentation {augmenter.describe()['ops']}"
    )
    run.once("examples", log_examples, run, test.images, augmenter, layout, args.examples)
    standardizer = Standardizer.fit(train.images)
    centre_of = functools.partial(centre_crop, layout=centre)
    train_eval = cli.first(train, args.train_eval_size)
    data = Data(
        train=train,
        standardizer=standardizer,
        centre=centre_of,
        train_eval=to_dataset(train_eval, 512, standardizer=standardizer, augment=centre_of),
        dev=to_dataset(dev, 512, standardizer=standardizer, augment=centre_of),
    )

    augmented, online = train, augmenter
    if args.offline_copies > 0:
        copies = run.once(
            "augmented_copies", augment_on_disk, run, train, augmenter, args.offline_copies, args.seed
        )
        augmented, online = read_augmented(run.dir / copies["file"]), None
    baseline, members = train_networks(run, args, data, augmented, online)
    evaluation = run.once("evaluation", evaluate_methods, args, data, test, baseline, members)

    title = (
        f"Augmentation, {len(layout)}-crop and an ensemble of {args.members} on Fashion-MNIST: "
        f"{len(train):,} training images, {args.epochs} epochs, {len(test):,} test images"
    )
    finish(run, args, title, evaluation, layout, augmenter)
    return 0


if __name__ == "__main__":
    sys.exit(main())
