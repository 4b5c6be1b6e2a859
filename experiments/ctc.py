"""Reading rendered text lines with CTC: a CRNN, greedy and beam-search decoding, character error rate.

Course 5, Week 3: "Speech recognition" (the CTC cost: the network writes one
distribution over the characters and a blank per input frame, many more
frames than characters, and -log P(y | x) sums over every alignment that
collapses to y: repeats merged, then blanks removed) and "Beam search".
Here the input is an image of a line of text instead of audio, the same
problem with columns for frames.

The data is rendered offline (`pipelines.text_lines`): lines of 1-3 words
from Debian's `wamerican` word list (63,875 words of lowercase a-z), each
drawn in one of 36 DejaVu and Liberation fonts (regular, bold, italic,
condensed, mono), 32 x 256 pixels, with random size, position, grey levels,
blur and noise. By default 8,000 training, 1,000 dev and 2,000 test lines;
each line goes to a split by a hash of its text, so no test text is a
training line. The characters are the space and a-z; id 0 is the blank.
`--test-fonts LiberationSerif,DejaVuSansMono` holds those fonts out of
training and also reads the test lines rendered in them: a data mismatch
(Course 3) the report shows beside the same lines in the training fonts.

The model, a CRNN: three 3x3 convolutions (BatchNorm, ReLU) with max pooling
that halves the height each time and the width twice, so a 32 x 256 line
becomes 64 frames of 4 x 64 features; a dense layer; a bidirectional GRU
(Keras' `GRU` layer by default; `--cell kerasdl` is kerasdl's lesson GRU,
`kerasdl.nn.cells.GRUCell` in `keras.layers.RNN`, about as fast); and
28 logits per frame. The loss is kerasdl's `CTCLoss` (`keras.ops.ctc_loss`,
every frame counted: the padding right of the text is spent on blanks).
On a CPU, TensorFlow runs `keras.ops.ctc_loss`'s dense labels through a
slow graph loop, most of a training step here; `--ctc-loss tf-sparse` (the
default) computes the same loss with `tf.nn.ctc_loss` on sparse labels,
TensorFlow's C++ kernel, several times faster (it refuses empty transcripts,
which these lines never are), and `--ctc-loss kerasdl` uses `CTCLoss`
itself. The test suite checks that the two agree in value and gradient.

Decoding (`kerasdl.nn.ctc.ctc_decode`): greedy (the most likely class per
frame, collapsed) and prefix beam search of width `--beam-width`, with no
language model. Metrics (`kerasdl.evaluation.error_rates`): the character
error rate (edit distance over reference characters, spaces counted) and
the word error rate, and the share of lines read exactly. The trained model
is saved with kerasdl's safe saver and loaded back with its allowlisting
loader (`kerasdl.training.saving`); the results say whether the reloaded
model reads the test lines the same way.

Run:
    python -m experiments.ctc                       # default profile, a few minutes on 2 cores
    python -m experiments.ctc --test-fonts LiberationSerif,DejaVuSansMono   # fonts never seen in training
    python -m experiments.ctc --cell kerasdl        # kerasdl's lesson GRU cell
    python -m experiments.ctc --epochs 12 --resume  # extend an interrupted run
    tensorboard --logdir logs/ctc

In TensorBoard: Scalars "error" overlays `model/train` (a fixed sample of
training lines) and `model/dev`: the greedy character error rate per
epoch; "loss" is the CTC loss (nats per line); `model/gaps` has dev minus
train. Images "lines" show training lines as the network sees them (step
0); images "predictions/<n>" show test lines, each above the network's
per-frame probabilities (one row per class, the blank on top, one column
per frame, aligned with the image's columns; darker is more likely), at
the end. Text "predictions" lists those lines' reference, greedy and beam
outputs and every misread test line; Text "summary" the final table.
`results.json` has the dev and test CER and WER of both decoders, the
held-out fonts' too when there are any, and the training times.
"""

from __future__ import annotations

import math
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from kerasdl.evaluation.error_rates import character_error_rate, word_error_rate
from kerasdl.harness.cli import experiment_parser, fail
from kerasdl.harness.curves import EpochCurves
from kerasdl.harness.run import Run, start_run
from kerasdl.nn.cells import GRUCell
from kerasdl.nn.ctc import CTCLoss, ctc_decode
from kerasdl.training.distribute import make_strategy
from kerasdl.training.saving import UntrustedModelError, load_model, save_model
from pipelines.sources import SourceCorruptError, SourceMissingError
from pipelines.text_lines import (
    ALPHABET,
    BLANK,
    NUM_CLASSES,
    PAD,
    RenderSettings,
    TextLines,
    decode_ids,
    find_fonts,
    line_dataset,
    load_words,
    split_fonts,
    text_line_splits,
)

EXPERIMENT = "ctc"
POOLS = ((2, 2), (2, 2), (2, 1))  # per convolution: (height, width) pooling; 32 x 256 -> 4 x 64
FRAMES = RenderSettings().width // math.prod(pool[1] for pool in POOLS)  # the CRNN's output frames, 64
EVAL_BATCH = 256
# Flags a resumed run may change: a longer training, or other pictures of the same model.
SAFE_TO_CHANGE = {"epochs", "examples"}

DESCRIPTION = """\
Reads images of rendered text lines (Course 5, Week 3: CTC): lines of
1-3 words from Debian's wamerican word list drawn in Debian's DejaVu and
Liberation fonts, offline. A CRNN (convolutions, a bidirectional GRU) is
trained with kerasdl's CTC loss and decoded greedily and by beam search;
logs the character and word error rates of both, images of test lines with
the per-frame probabilities, and the results on fonts held out of training
(--test-fonts). --resume continues an interrupted run where it stopped.
"""


def build_parser():
    parser = experiment_parser(EXPERIMENT, DESCRIPTION)
    data = parser.add_argument_group("data")
    data.add_argument("--train-size", type=int, default=8000, help="training lines")
    data.add_argument("--dev-size", type=int, default=1000, help="dev lines (the curves)")
    data.add_argument("--test-size", type=int, default=2000, help="test lines (decoded once at the end)")
    data.add_argument("--max-words", type=int, default=3, help="words per line: 1 to this many")
    data.add_argument("--max-chars", type=int, default=24, help="the longest line, spaces included")
    data.add_argument(
        "--test-fonts",
        default="",
        help="comma-separated font name prefixes (e.g. LiberationSerif,DejaVuSansMono) held out of "
        "training; the test lines are also read in them",
    )
    data.add_argument(
        "--words-file",
        default=None,
        help="word list, one a line; None: Debian's wamerican, or $KERASDL_WORDS_FILE",
    )
    data.add_argument(
        "--fonts-dir",
        default=None,
        help="folder of .ttf fonts; None: Debian's DejaVu and Liberation fonts, or $KERASDL_FONTS_DIR",
    )
    model = parser.add_argument_group("model")
    model.add_argument("--filters", default="16,32,64", help="filters of the three convolutions")
    model.add_argument("--dense", type=int, default=128, help="units of the dense layer before the GRU")
    model.add_argument("--units", type=int, default=96, help="units of each direction of the GRU")
    model.add_argument(
        "--cell", choices=("keras", "kerasdl"), default="keras", help="Keras' GRU layer or kerasdl's GRUCell"
    )
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=4, help="passes over the training lines")
    train.add_argument("--batch-size", type=int, default=32, help="lines per batch")
    train.add_argument("--learning-rate", type=float, default=2e-3, help="Adam's learning rate")
    train.add_argument(
        "--ctc-loss",
        choices=("tf-sparse", "kerasdl"),
        default="tf-sparse",
        help="kerasdl's CTCLoss (keras.ops.ctc_loss) or the same loss on TensorFlow's sparse-label kernel "
        "(several times faster on a CPU)",
    )
    train.add_argument(
        "--train-eval-size", type=int, default=500, help="training lines the train curve is measured on"
    )
    decode = parser.add_argument_group("decoding")
    decode.add_argument("--beam-width", type=int, default=10, help="B of the beam search")
    decode.add_argument("--examples", type=int, default=8, help="test lines shown as images and text")
    return parser


def check_flags(args) -> tuple[list[int], list[str]]:
    """Fails with one error line on a bad flag; returns the filters and the held-out font prefixes."""
    for flag in ("train_size", "dev_size", "test_size", "max_words", "max_chars", "dense", "units"):
        if getattr(args, flag) < 1:
            fail(f"--{flag.replace('_', '-')} must be at least 1; received {getattr(args, flag)}")
    for flag in ("epochs", "batch_size", "train_eval_size", "beam_width"):
        if getattr(args, flag) < 1:
            fail(f"--{flag.replace('_', '-')} must be at least 1; received {getattr(args, flag)}")
    if args.examples < 0:
        fail(f"--examples must be at least 0; received {args.examples}")
    if args.max_chars > FRAMES // 2:
        fail(
            f"--max-chars must be at most {FRAMES // 2} (the CRNN writes {FRAMES} frames, and a character "
            f"may need a blank after it); received {args.max_chars}"
        )
    if args.batch_size > args.train_size:
        fail(f"--batch-size {args.batch_size} is more than the {args.train_size} training lines")
    if not (math.isfinite(args.learning_rate) and args.learning_rate > 0):
        fail(f"--learning-rate must be a positive number; received {args.learning_rate}")
    try:
        filters = [int(f) for f in args.filters.split(",")]
    except ValueError:
        filters = []
    if len(filters) != len(POOLS) or min(filters) < 1:
        fail(f"--filters must be {len(POOLS)} comma-separated positive integers; received {args.filters!r}")
    return filters, [p.strip() for p in args.test_fonts.split(",") if p.strip()]


def load_sources(args, held_out_prefixes: list[str]) -> tuple[tuple[str, ...], tuple, tuple]:
    """(words, training fonts, held-out fonts); one error line when a source is missing or a flag wrong."""
    try:
        words = load_words(args.words_file)
        fonts, held_out = split_fonts(find_fonts(args.fonts_dir), held_out_prefixes)
        settings = RenderSettings(max_words=args.max_words, max_chars=args.max_chars)
        if min(len(w) for w in words) > settings.max_chars:
            raise ValueError(f"--max-chars {args.max_chars} is shorter than every word of the list")
    except (SourceMissingError, SourceCorruptError, ValueError) as error:
        fail(str(error))
    return words, fonts, held_out


def render_data(args, words, fonts, held_out) -> tuple[dict[str, TextLines], dict]:
    """Renders the splits, and the test lines again in the held-out fonts when there are any."""
    settings = RenderSettings(max_words=args.max_words, max_chars=args.max_chars)
    sizes = {"train": args.train_size, "dev": args.dev_size, "test": args.test_size}
    splits = text_line_splits(sizes, words, fonts, seed=args.seed, settings=settings)
    if held_out:  # the same seed and draws: the same test texts, in the held-out fonts
        test = text_line_splits({"test": args.test_size}, words, held_out, seed=args.seed, settings=settings)
        splits["test_fonts"] = test["test"]
    info = {
        "words": len(words),
        "fonts": [f.stem for f in fonts],
        "held_out_fonts": [f.stem for f in held_out],
        "sizes": {name: len(lines) for name, lines in splits.items()},
        "characters": {name: sum(len(t) for t in lines.texts) for name, lines in splits.items()},
    }
    return splits, info


class SparseLabelCTCLoss(CTCLoss):
    """kerasdl's `CTCLoss` on TensorFlow's sparse-label CTC kernel: the same value, computed faster on a CPU.

    `tf.nn.ctc_loss` with a `tf.SparseTensor` of labels runs TensorFlow's
    C++ CTC kernel; with dense labels (what `keras.ops.ctc_loss` passes) it
    runs a graph loop over the frames. TensorFlow only.
    """

    def call(self, y_true, y_pred):
        y_true = tf.cast(y_true, tf.int32)
        labels = tf.sparse.from_dense(tf.where(tf.equal(y_true, self.pad), 0, y_true + 1))
        labels = tf.SparseTensor(labels.indices, labels.values - 1, labels.dense_shape)  # keeps id 0 labels
        frames = tf.fill([tf.shape(y_pred)[0]], tf.shape(y_pred)[1])
        return tf.nn.ctc_loss(labels, y_pred, None, frames, logits_time_major=False, blank_index=self.blank)


def build_model(args, filters: list[int], height: int = 32, width: int = 256) -> keras.Model:
    """Convolutions and pooling -> one feature vector per column of frames -> bidirectional GRU -> logits."""
    inputs = keras.Input((height, width, 1), name="line")
    x = inputs
    for k, (count, pool) in enumerate(zip(filters, POOLS, strict=True), start=1):
        x = keras.layers.Conv2D(count, 3, padding="same", use_bias=False, name=f"conv{k}")(x)
        x = keras.layers.BatchNormalization(name=f"bn{k}")(x)
        x = keras.layers.ReLU(name=f"relu{k}")(x)
        x = keras.layers.MaxPooling2D(pool, name=f"pool{k}")(x)
    frames, rows = width // math.prod(p[1] for p in POOLS), height // math.prod(p[0] for p in POOLS)
    x = keras.layers.Permute((2, 1, 3), name="columns")(x)  # [m, W', H', C]: one frame per column
    x = keras.layers.Reshape((frames, rows * filters[-1]), name="frames")(x)
    x = keras.layers.Dense(args.dense, activation="relu", name="dense")(x)
    if args.cell == "keras":
        recurrent = keras.layers.GRU(args.units, return_sequences=True, name="gru")
    else:
        recurrent = keras.layers.RNN(GRUCell(args.units), return_sequences=True, name="gru")
    x = keras.layers.Bidirectional(recurrent, name="bigru")(x)
    logits = keras.layers.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(inputs, logits, name="crnn")


def compile_model(model: keras.Model, args) -> keras.Model:
    loss = SparseLabelCTCLoss if args.ctc_loss == "tf-sparse" else CTCLoss
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate), loss=loss(blank=BLANK, pad=PAD))
    return model


# -- reading ------------------------------------------------------------------------------------------


def label_texts(labels: np.ndarray) -> list[str]:
    return [decode_ids(row[row != PAD]) for row in labels]


def read_lines(model: keras.Model, dataset, beam_width: int = 1) -> dict:
    """Every line of `dataset` read: logits, mean CTC loss, references and the decoded texts."""
    logits, labels = [], []
    for images, batch_labels in dataset:
        logits.append(np.asarray(model.predict_on_batch(images)))  # a traced call, not an eager one
        labels.append(batch_labels.numpy())
    logits, labels = np.concatenate(logits), np.concatenate(labels)
    loss = CTCLoss(blank=BLANK, pad=PAD, reduction=None)
    losses = np.concatenate(
        [
            keras.ops.convert_to_numpy(loss(labels[i : i + EVAL_BATCH], logits[i : i + EVAL_BATCH]))
            for i in range(0, len(labels), EVAL_BATCH)
        ]
    )
    outputs = [decode_ids(ids) for ids in ctc_decode(logits, beam_width=beam_width, blank=BLANK)]
    return {
        "logits": logits,
        "loss": float(losses.mean()),
        "references": label_texts(labels),
        "outputs": outputs,
    }


def error_rates(references: list[str], outputs: list[str]) -> dict:
    return {
        "cer": character_error_rate(outputs, references),
        "wer": word_error_rate(outputs, references),
        "line_accuracy": float(np.mean([o == r for o, r in zip(outputs, references, strict=True)])),
    }


class GreedyCER:
    """`evaluate(dataset)` for `EpochCurves`: the CTC loss and 1 - the greedy character error rate."""

    def __init__(self, model: keras.Model):
        self.model = model

    @property
    def optimizer(self):
        return self.model.optimizer

    def evaluate(self, dataset) -> dict:
        read = read_lines(self.model, dataset)
        return {
            "loss": read["loss"],
            "accuracy": 1.0 - character_error_rate(read["outputs"], read["references"]),
        }


def log_training_lines(run: Run, lines: TextLines, count: int) -> dict:
    """A few training lines as the network sees them (ink bright), once, at step 0."""
    shown = lines.images[:count]
    with run.writer().as_default():
        tf.summary.image("lines", (255 - shown)[..., None], step=0, max_outputs=count)
    return {"texts": list(lines.texts[:count]), "fonts": list(lines.fonts[:count])}


def probability_picture(image: np.ndarray, logits: np.ndarray, row_height: int = 3) -> np.ndarray:
    """uint8 [H + V * row_height, W]: the line above its per-frame class probabilities (blank first)."""
    probabilities = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    column = image.shape[1] // len(logits)
    grid = np.repeat(np.repeat(probabilities.T, row_height, axis=0), column, axis=1)
    return np.concatenate([image, np.round(255 * (1 - grid)).astype(np.uint8)], axis=0)


def decode_splits(model: keras.Model, datasets: dict, beam_width: int) -> dict:
    """Each split read greedily and by beam search: error rates, and the outputs of every line."""
    results = {}
    for name, dataset in datasets.items():
        greedy = read_lines(model, dataset)
        beam = ctc_decode(greedy["logits"], beam_width=beam_width, blank=BLANK)
        beam = [decode_ids(ids) for ids in beam]
        results[name] = {
            "loss": greedy["loss"],
            "greedy": error_rates(greedy["references"], greedy["outputs"]),
            "beam": error_rates(greedy["references"], beam),
            "outputs": {"greedy": greedy["outputs"], "beam": beam},
        }
    return results


def log_predictions(run: Run, model, lines: TextLines, decoded: dict, count: int, step: int) -> dict:
    """The first `count` test lines with their probabilities as images; the outputs and misreads as text."""
    references = list(lines.texts)
    greedy, beam = decoded["outputs"]["greedy"], decoded["outputs"]["beam"]
    if count:
        images = 1.0 - lines.images[:count, ..., None] / 255.0
        logits = np.asarray(model.predict_on_batch(images.astype("float32")))
        with run.writer().as_default():
            for k in range(count):
                picture = probability_picture(lines.images[k], logits[k])
                tf.summary.image(f"predictions/{k}", picture[None, ..., None], step=step)
    rows = ["| line | font | reference | greedy | beam |", "|---|---|---|---|---|"]
    rows += [
        f"| {k} | {lines.fonts[k]} | `{references[k]}` | `{greedy[k]}` | `{beam[k]}` |" for k in range(count)
    ]
    wrong = [k for k in range(len(references)) if greedy[k] != references[k] or beam[k] != references[k]]
    rows += ["", f"Misread test lines: {len(wrong)} of {len(references)} (greedy or beam wrong).", ""]
    rows += ["| line | font | reference | greedy | beam |", "|---|---|---|---|---|"]
    rows += [f"| {k} | {lines.fonts[k]} | `{references[k]}` | `{greedy[k]}` | `{beam[k]}` |" for k in wrong]
    with run.writer("predictions").as_default():
        tf.summary.text("predictions", "\n".join(rows), step=step)
    return {"misread": len(wrong), "shown": count}


def check_saving(run: Run, model: keras.Model, dataset) -> dict:
    """Saves the network with kerasdl's saver, loads it with the allowlisting loader, reads the lines again.

    The file holds the trained layers and the optimizer's state, compiled
    with kerasdl's `CTCLoss` whichever loss trained them (`SparseLabelCTCLoss`
    lives in this script, which the loader rightly does not trust).
    """
    path = run.dir / "model.keras"
    network = keras.Model(model.inputs, model.outputs, name=model.name)
    network.compile(optimizer=model.optimizer, loss=CTCLoss(blank=BLANK, pad=PAD))
    save_model(network, path)
    try:
        reloaded = load_model(path)
    except UntrustedModelError as error:
        return {"path": str(path), "reloaded": False, "refused": str(error)}
    before, after = read_lines(model, dataset), read_lines(reloaded, dataset)
    return {
        "path": str(path),
        "reloaded": True,
        "max_logit_difference": float(np.max(np.abs(before["logits"] - after["logits"]))),
        "same_outputs": before["outputs"] == after["outputs"],
    }


def summary_text(
    args, info: dict, decoded: dict, seconds: tuple[float, float], parameters: int, saved
) -> str:
    lines = [
        f"# CTC: a CRNN reading rendered text lines ({parameters:,} parameters, GRU: {args.cell})",
        "",
        f"- {info['words']:,} words (a-z) from {args.words_file or 'wamerican'}; "
        f"{len(info['fonts'])} training fonts"
        + (f", held out: {', '.join(info['held_out_fonts'])}" if info["held_out_fonts"] else ""),
        "- lines: " + ", ".join(f"{name} {n:,}" for name, n in info["sizes"].items()),
        f"- characters: {ALPHABET!r} and the blank (id {BLANK})",
        "",
        f"| split | CTC loss | CER greedy | CER beam (B = {args.beam_width}) | WER greedy | WER beam "
        "| lines right greedy | lines right beam |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in decoded.items():
        g, b = r["greedy"], r["beam"]
        lines.append(
            f"| {name} | {r['loss']:.3f} | {g['cer']:.2%} | {b['cer']:.2%} | {g['wer']:.2%} | {b['wer']:.2%} "
            f"| {g['line_accuracy']:.2%} | {b['line_accuracy']:.2%} |"
        )
    lines += [
        "",
        f"Training: {args.epochs} epochs of {args.train_size:,} lines, batch {args.batch_size}, Adam at "
        f"{args.learning_rate}, loss {args.ctc_loss}; {seconds[0]:.0f} s wall, {seconds[1]:.0f} s CPU.",
        "",
        "Saved and reloaded with kerasdl.training.saving: "
        + (
            f"same outputs: {saved['same_outputs']}, "
            f"largest logit difference {saved['max_logit_difference']:.2g}."
            if saved["reloaded"]
            else f"refused: {saved['refused']}"
        ),
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    filters, held_out = check_flags(args)
    words, fonts, held_out_fonts = load_sources(args, held_out)
    run = start_run(EXPERIMENT, vars(args), safe_to_change=SAFE_TO_CHANGE)
    splits, info = render_data(args, words, fonts, held_out_fonts)
    print(f"Run directory: {run.dir}\n{info['sizes']}", flush=True)
    run.save_json("data.json", info)
    length = args.max_chars
    train = line_dataset(splits["train"], args.batch_size, length, shuffle=True, seed=args.seed)
    chosen = np.sort(np.random.default_rng(args.seed).permutation(args.train_size)[: args.train_eval_size])
    train_sample = TextLines(
        splits["train"].images[chosen],
        tuple(splits["train"].texts[i] for i in chosen),
        tuple(splits["train"].fonts[i] for i in chosen),
    )
    evaluate = {
        "train": line_dataset(train_sample, EVAL_BATCH, length),
        "dev": line_dataset(splits["dev"], EVAL_BATCH, length),
    }
    with make_strategy(args.strategy).scope():
        model = compile_model(build_model(args, filters), args)
    run.once("lines", log_training_lines, run, splits["train"], min(args.examples, args.train_size))
    curves = EpochCurves(
        run.curves, evaluate, prefix="model", gap_splits=("train", "dev"), evaluator=GreedyCER(model)
    )
    cpu = time.process_time()
    with run.phase("train"):
        model.fit(
            train,
            epochs=args.epochs,
            callbacks=[curves, *run.resume_callbacks(train)],
            shuffle=False,
            verbose=1 if sys.stdout.isatty() else 2,
        )
    # CPU seconds of this process (all its threads) in the session that finished training: on a shared
    # machine, wall time also counts the waits for a core.
    train_cpu_seconds = run.once("train_cpu_seconds", lambda: time.process_time() - cpu)
    step = args.epochs
    held = {
        name: line_dataset(splits[name], EVAL_BATCH, length)
        for name in ("dev", "test", "test_fonts")
        if name in splits
    }
    decoded = run.once("decode", decode_splits, model, held, args.beam_width)
    count = min(args.examples, args.test_size)
    run.once("predictions", log_predictions, run, model, splits["test"], decoded["test"], count, step)
    saved = run.once("saving", check_saving, run, model, held["test"].take(1))  # the first test batch
    train_seconds = run.phases.seconds("train") or 0.0
    rates = {name: {k: v for k, v in r.items() if k != "outputs"} for name, r in decoded.items()}
    summary = summary_text(args, info, rates, (train_seconds, train_cpu_seconds), model.count_params(), saved)
    metrics = {
        "train_seconds": train_seconds,
        "train_cpu_seconds": train_cpu_seconds,
        "parameters": model.count_params(),
        "words": info["words"],
    }
    for name in ("dev", "test", "test_fonts"):
        for decoding in ("greedy", "beam"):
            for rate in ("cer", "wer", "line_accuracy"):
                metrics[f"{name}_{rate}_{decoding}"] = rates[name][decoding][rate] if name in rates else None
    run.finish(
        metrics=metrics,
        details={"data": info, "rates": rates, "saving": saved},
        summary=summary,
        step=step,
        echo=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
