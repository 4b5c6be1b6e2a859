"""A character language model: learn P(next character | the ones before), then sample novel text.

Course 5, Week 1: "Language model and sequence generation", "Sampling novel
sequences", "Vanishing gradients with RNNs" (and exploding gradients:
clipping), "Gated Recurrent Unit (GRU)", "Long Short Term Memory (LSTM)",
"Deep RNNs".

The corpus is Debian's `fortunes` package, offline: every plain-text file of
/usr/share/games/fortunes, split at its "%" lines (fortunes 1:1.99.1-7.3 in
Debian 12: 15,217 fortunes, 2,530,963 characters, 113 distinct characters;
the vocabulary, built on the training split, has 114 ids: 112 characters,
<EOS> and <UNK>). Each fortune goes to train (90%), validation (5%) or test
(5%) by a hash of its text (`pipelines.text`), so a fortune the files repeat
is in one split only. The fortunes of a split are laid end to end, each
followed by <EOS>, and cut into windows of `--seq-length` characters; the
input at step t is the previous character, x<t> = y<t-1>.

The model: an embedding (the lesson's E o_j = e_j, a one-hot vector times a
matrix), a stack of kerasdl's recurrent cells run in one loop over time
(`--cell lstm|gru|rnn`, `--layers`, `kerasdl.nn.cells`) and a softmax over the
vocabulary. Its loss is the cross-entropy in nats per character;
perplexity = exp(loss), the number of equally likely characters the model is
as unsure as. An epoch is `--steps-per-epoch` batches drawn at random from
the training windows, new ones each epoch. Sizes were chosen on the
validation split.

Gradient clipping (exploding gradients): `--clip-norm N` rescales each step's
gradients to a global norm (over all weights) of at most N, Keras' optimizer
argument `global_clipnorm`; the default clips at norm 1, and `--clip-norm 0`
turns clipping off. `--clip-value V` clips every gradient element to [-V, V]
instead, Keras' `clipvalue` (what the course's assignment does with np.clip).
The mean global gradient norm of each epoch, before clipping, is logged
either way (`kerasdl.training.loop.CustomStepModel`). At the end the test
split is evaluated once and the model writes text from a few prompts at
temperatures 0.5 and 1.0 (`kerasdl.nn.sampling`: each sampled character is
fed back as the next input, until <EOS>).

Run:
    python -m experiments.char_lm                   # default profile, under 3 min of training on 2 cores
    python -m experiments.char_lm --cell rnn        # the basic RNN cell instead of the LSTM
    python -m experiments.char_lm --clip-norm 0     # no clipping at the default learning rate
    python -m experiments.char_lm --cell gru --clip-value 5      # the GRU, clipped as in the assignment
    python -m experiments.char_lm --epochs 20                    # longer
    python -m experiments.char_lm --source tfds:tiny_shakespeare --download   # another corpus (network)
    tensorboard --logdir logs/char_lm

In TensorBoard: Scalars "loss" overlays the runs `<cell>/train` (a fixed
sample of training windows) and `<cell>/validation`, in nats per character
per epoch, and `<cell>/test` (one point, at the end); "perplexity" shows
exp(loss) of the same runs; "error" the share of characters whose argmax
is wrong; `<cell>/train` also has "gradient_norm" (mean global norm before
clipping) and "learning_rate"; `<cell>/gaps` has "gap" (validation minus
train error). Text "samples" holds the generated text per prompt and
temperature, Text "summary" the final table. `results.json` has the metrics
validation_nats_per_char, test_nats_per_char, perplexity (validation) and
test_perplexity.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from kerasdl.harness.cli import experiment_parser, fail
from kerasdl.harness.curves import CurveLog, EpochCurves
from kerasdl.harness.run import Run, start_run
from kerasdl.nn.cells import GRUCell, LSTMCell, SimpleRNNCell
from kerasdl.nn.sampling import generate
from kerasdl.nn.schedules import ExponentialDecay
from kerasdl.training.distribute import make_strategy
from kerasdl.training.loop import CustomStepModel
from pipelines.sources import SourceCorruptError, SourceMissingError
from pipelines.text import (
    EOS,
    CharVocabulary,
    TextSource,
    char_windows,
    load_text_source,
    split_passages,
    window_dataset,
)

EXPERIMENT = "char_lm"
CELLS = {"rnn": SimpleRNNCell, "gru": GRUCell, "lstm": LSTMCell}
EVAL_BATCH = 256  # windows per evaluation batch (no gradients: larger batches are cheaper per character)
DEFAULT_CLIP_NORM = 1.0  # the global norm clipped at unless --clip-norm or --clip-value says otherwise
# Flags a resumed run may change: a longer training, or other samples of the same model.
SAFE_TO_CHANGE = {"epochs", "prompts", "temperatures", "sample_length"}

DESCRIPTION = """\
A character-level language model (Course 5, Week 1) trained on Debian's
fortunes (offline) or any tfds text dataset: an embedding, a stack of
kerasdl's LSTM, GRU or basic RNN cells and a softmax over the characters.
Logs the validation loss in nats per character and the perplexity per
epoch, the gradient norm before clipping (--clip-norm, --clip-value), the
test loss once at the end, and text sampled at a few temperatures.
--resume continues an interrupted run where it stopped.
"""


def build_parser():
    parser = experiment_parser(EXPERIMENT, DESCRIPTION)
    data = parser.add_argument_group("data")
    data.add_argument(
        "--source",
        default="fortunes",
        help="'fortunes' (Debian's package, offline) or 'tfds:<name>' (a tfds text dataset, --download once)",
    )
    data.add_argument("--data-dir", default=None, help="folder of fortune files, or tfds' data_dir")
    data.add_argument("--download", action="store_true", help="allow tfds to download the dataset (network)")
    data.add_argument(
        "--limit",
        type=int,
        default=None,
        help="use only about this many passages, hash-chosen (quick runs, tests)",
    )
    data.add_argument("--seq-length", type=int, default=100, help="characters per training window (T_x)")
    model = parser.add_argument_group("model")
    model.add_argument("--cell", choices=sorted(CELLS), default="lstm", help="the recurrent cell")
    model.add_argument("--layers", type=int, default=2, help="stacked recurrent layers (a deep RNN)")
    model.add_argument("--units", type=int, default=128, help="n_a, the hidden state size of each layer")
    model.add_argument("--embedding-size", type=int, default=32, help="size of each character's embedding")
    train = parser.add_argument_group("training")
    # 4 epochs reach nanoGPT's CPU anchor (validation loss <= 1.88 nats/char) within 3 minutes of training on
    # 2 CPU cores; more epochs lower the loss further. Chosen on the validation split, as every default here.
    train.add_argument("--epochs", type=int, default=4, help="epochs of --steps-per-epoch batches each")
    train.add_argument(
        "--steps-per-epoch",
        type=int,
        default=200,
        help="batches per epoch, a new random subset of the training windows each epoch (0: all windows)",
    )
    train.add_argument("--batch-size", type=int, default=64, help="windows per batch")
    train.add_argument("--optimizer", choices=("adam", "sgd"), default="adam", help="the optimizer")
    train.add_argument("--learning-rate", type=float, default=0.02, help="alpha0, the initial learning rate")
    train.add_argument(
        "--decay-base",
        type=float,
        default=1.0,
        help="exponential learning-rate decay, alpha = base^epoch_num * alpha0 (Course 2); 1 keeps alpha0",
    )
    train.add_argument(
        "--clip-norm",
        type=float,
        default=None,
        help=f"rescale each step's gradients to this global norm when larger (Keras' global_clipnorm); "
        f"{DEFAULT_CLIP_NORM:g} unless --clip-value is given, 0 turns clipping off",
    )
    train.add_argument(
        "--clip-value",
        type=float,
        default=None,
        help="clip every gradient element to [-value, value] instead (Keras' clipvalue)",
    )
    train.add_argument(
        "--train-eval-windows",
        type=int,
        default=500,
        help="the training loss of each epoch is measured on this many hash-fixed training windows",
    )
    sampling = parser.add_argument_group("sampling")
    sampling.add_argument(
        "--prompts",
        default="|The |Q:",
        help="'|'-separated texts the samples start with ('' starts a new fortune)",
    )
    sampling.add_argument("--temperatures", default="0.5,1.0", help="comma-separated sampling temperatures")
    sampling.add_argument("--sample-length", type=int, default=300, help="most characters per sample")
    return parser


def check_flags(args) -> list[float]:
    """Fails with one error line on a bad flag; returns the temperatures."""
    for flag in (
        "seq_length",
        "layers",
        "units",
        "embedding_size",
        "epochs",
        "batch_size",
        "train_eval_windows",
    ):
        if getattr(args, flag) < 1:
            fail(f"--{flag.replace('_', '-')} must be at least 1; received {getattr(args, flag)}")
    for flag in ("steps_per_epoch", "sample_length"):
        if getattr(args, flag) < 0:
            fail(f"--{flag.replace('_', '-')} must be at least 0; received {getattr(args, flag)}")
    if not 0 < args.decay_base <= 1:
        fail(f"--decay-base must be in (0, 1]; received {args.decay_base}")
    if args.limit is not None and args.limit < 3:
        fail(f"--limit must be at least 3 passages (one per split); received {args.limit}")
    for flag in ("learning_rate", "clip_value"):
        value = getattr(args, flag)
        if value is not None and not (math.isfinite(value) and value > 0):
            fail(f"--{flag.replace('_', '-')} must be a positive number; received {value}")
    if args.clip_norm is not None and not (math.isfinite(args.clip_norm) and args.clip_norm >= 0):
        fail(f"--clip-norm must be a positive number, or 0 for no clipping; received {args.clip_norm}")
    if args.clip_norm and args.clip_value is not None:
        fail(
            "--clip-norm and --clip-value exclude each other (Keras' optimizers clip one way); received both"
        )
    try:
        temperatures = [float(t) for t in args.temperatures.split(",") if t.strip()]
    except ValueError:
        temperatures = []
    if not temperatures or not all(math.isfinite(t) and t >= 0 for t in temperatures):
        fail(f"--temperatures must be comma-separated numbers >= 0; received {args.temperatures!r}")
    return temperatures


@dataclass(frozen=True)
class CharData:
    """The corpus split by passage, the training split's vocabulary and the windows of every split."""

    corpus: dict[str, TextSource]
    vocabulary: CharVocabulary
    windows: dict[str, tuple[np.ndarray, np.ndarray]]
    steps_per_epoch: int

    def report(self) -> str:
        lines = [
            f"{name}: {len(part):,} passages, {part.characters:,} characters, "
            f"{len(self.windows[name][0]):,} windows"
            for name, part in self.corpus.items()
        ]
        characters = len(self.vocabulary.characters)
        return "\n".join(
            [*lines, f"vocabulary: {self.vocabulary.size} ids ({characters} characters, <EOS>, <UNK>)"]
        )


def prepare_data(args) -> CharData:
    """Loads and splits the corpus, builds the vocabulary on train and cuts every split into windows.

    Fails with one error line when the source is missing or the flags do not fit the data.
    """
    try:
        source = load_text_source(args.source, data_dir=args.data_dir, download=args.download)
    except (SourceMissingError, SourceCorruptError, ValueError) as error:
        fail(str(error))
    if args.limit and args.limit < len(source):
        share = args.limit / len(source)
        source = split_passages(source, {"keep": share, "rest": 1 - share}, salt="limit")["keep"]
    corpus = split_passages(source, salt="char_lm")
    if not all(len(part) for part in corpus.values()):
        fail(f"--limit {args.limit} leaves a split without passages; use a larger --limit")
    vocabulary = CharVocabulary.from_texts(corpus["train"].passages)
    windows = {
        name: char_windows(vocabulary.encode_passages(part.passages), args.seq_length)
        for name, part in corpus.items()
    }
    if not all(len(x) for x, _ in windows.values()):
        fail(f"--seq-length {args.seq_length} is longer than a split; use a shorter one or more data")
    available = len(windows["train"][0]) // args.batch_size
    if available < 1 or args.steps_per_epoch > available:
        fail(
            f"--steps-per-epoch must be at most the {available} batches of --batch-size {args.batch_size} "
            f"that the training split holds; received {args.steps_per_epoch}"
        )
    return CharData(corpus, vocabulary, windows, args.steps_per_epoch or available)


def build_model(args, vocabulary_size: int) -> CustomStepModel:
    """Embedding -> stacked recurrent cells (one loop over time) -> logits over the vocabulary.

    A `CustomStepModel` without clipping of its own: it tracks the global
    gradient norm before the optimizer clips (the optimizer does the clipping).
    """
    inputs = keras.Input((None,), dtype="int32", name="characters")
    x = keras.layers.Embedding(vocabulary_size, args.embedding_size, name="embedding")(inputs)
    cells = [CELLS[args.cell](args.units, name=f"{args.cell}_{layer + 1}") for layer in range(args.layers)]
    x = keras.layers.RNN(cells, return_sequences=True, name="rnn")(x)
    logits = keras.layers.Dense(vocabulary_size, name="logits")(x)
    return CustomStepModel(inputs, logits, name=f"char_{args.cell}")


def clipping(args) -> tuple[float | None, float | None]:
    """(global_clipnorm, clipvalue) for the optimizer: by norm at DEFAULT_CLIP_NORM unless the flags say."""
    if args.clip_value is not None:
        return None, args.clip_value
    norm = DEFAULT_CLIP_NORM if args.clip_norm is None else args.clip_norm
    return norm or None, None


def make_optimizer(name: str, learning_rate, clip_norm=None, clip_value=None):
    """Adam or SGD; clipping by global norm (`global_clipnorm`) or by value (`clipvalue`), at most one."""
    kind = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD}[name]
    return kind(learning_rate, global_clipnorm=clip_norm, clipvalue=clip_value)


def compile_model(model: keras.Model, args, steps_per_epoch: int) -> keras.Model:
    learning_rate = args.learning_rate
    if args.decay_base != 1:
        learning_rate = ExponentialDecay(args.learning_rate, args.decay_base, steps_per_epoch)
    model.compile(
        optimizer=make_optimizer(args.optimizer, learning_rate, *clipping(args)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),  # natural log: nats per character
        metrics=["accuracy"],
    )
    return model


class LanguageModelScalars(keras.callbacks.Callback):
    """After `EpochCurves`: perplexity = exp(loss) of each evaluated split, and the epoch's gradient norm.

    Put it between `EpochCurves` and the resume callbacks, so its points are
    saved before the epoch's backup.
    """

    def __init__(self, curves: CurveLog, prefix: str, splits=("train", "validation")):
        super().__init__()
        self.curves, self.prefix, self.splits = curves, prefix, splits

    def on_epoch_end(self, epoch, logs=None):
        step = epoch + 1
        for split in self.splits:
            loss = dict(self.curves.points(f"{self.prefix}/{split}", "loss")).get(step)
            if loss is not None:
                self.curves.log(f"{self.prefix}/{split}", "perplexity", step, math.exp(loss))
        if logs and "gradient_norm" in logs:
            self.curves.log(f"{self.prefix}/train", "gradient_norm", step, float(logs["gradient_norm"]))
        self.curves.save()


class NextCharacter:
    """`predict_next` for `kerasdl.nn.sampling.generate`: the trained model one character at a time.

    Calls the model's own embedding, cells and output layer step by step,
    keeping every layer's state, so each call costs one time step.
    """

    def __init__(self, model: keras.Model):
        self.embedding = model.get_layer("embedding")
        self.cells = model.get_layer("rnn").cell.cells
        self.head = model.get_layer("logits")
        # A graph of one step (the loop over the cells is Python, unrolled when traced): no AutoGraph needed.
        self._step = tf.function(self.step, autograph=False)
        self.reset()

    def reset(self) -> None:
        """Back to the zero state a<0> = 0 (and c<0> = 0), for a new sequence."""
        sizes = [
            cell.state_size if isinstance(cell.state_size, list) else [cell.state_size] for cell in self.cells
        ]
        self.states = [[tf.zeros((1, size)) for size in cell_sizes] for cell_sizes in sizes]

    def step(self, token, states):
        x = self.embedding(token)
        new_states = []
        for cell, state in zip(self.cells, states, strict=True):
            x, state = cell(x, state)
            new_states.append(list(state))
        return tf.nn.softmax(self.head(x))[0], new_states

    def __call__(self, token: int) -> np.ndarray:
        probs, self.states = self._step(tf.constant([token], tf.int32), self.states)
        return probs.numpy()


def write_samples(args, run: Run, model, vocabulary: CharVocabulary, temperatures, step: int) -> dict:
    """Text sampled from each prompt at each temperature, logged as TensorBoard text; {prompt: {T: text}}."""
    samples, sections, predict_next = {}, [], NextCharacter(model)
    for p, prompt in enumerate(args.prompts.split("|")):
        samples[prompt] = {}
        for t, temperature in enumerate(temperatures):
            seed = [EOS, *vocabulary.encode(prompt).tolist()]
            rng = np.random.default_rng([args.seed, p, t])
            predict_next.reset()
            tokens = generate(predict_next, seed, args.sample_length, temperature, rng, end=EOS)
            text = prompt + vocabulary.decode(tokens)
            samples[prompt][str(temperature)] = text
            fence = "\n".join("    " + line for line in text.split("\n"))  # a Markdown code block
            sections.append(f"**prompt {prompt!r}, temperature {temperature}**\n\n{fence}")
    with run.writer("samples").as_default():
        tf.summary.text("samples", "\n\n".join(sections), step=step)
    return samples


def evaluate_test(run: Run, model, test, prefix: str, step: int) -> dict:
    """The test loss, once, at the end: logged as run `<prefix>/test` beside the per-epoch curves."""
    results = model.evaluate(test, verbose=0, return_dict=True)
    loss = float(results["loss"])
    run.curves.log(f"{prefix}/test", "loss", step, loss)
    run.curves.log(f"{prefix}/test", "perplexity", step, math.exp(loss))
    run.curves.save()
    return {"nats_per_char": loss, "error": 1 - float(results["accuracy"])}


def summary_text(args, data: CharData, final, test, samples, train_seconds, parameters) -> str:
    clip_norm, clip_value = clipping(args)
    clipped = (
        f"by global norm {clip_norm:g}" if clip_norm else f"by value {clip_value:g}" if clip_value else "none"
    )
    lines = [
        f"# Character language model: {args.layers} x {args.cell.upper()}({args.units}), "
        f"{parameters:,} parameters, on {args.source}",
        "",
        *(f"- {line}" for line in data.report().split("\n")),
        "",
        "| split | nats/char | bits/char | perplexity | character error |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (loss, error) in {**final, "test": (test["nats_per_char"], test["error"])}.items():
        lines.append(
            f"| {name} | {loss:.3f} | {loss / math.log(2):.3f} | {math.exp(loss):.2f} | {error:.3f} |"
        )
    lines += [
        "",
        f"Training: {args.epochs} epochs of {data.steps_per_epoch} batches of {args.batch_size} windows of "
        f"{args.seq_length} characters, {args.optimizer} at {args.learning_rate}, clipping {clipped}; "
        f"{train_seconds:.0f} s.",
        "",
        "Samples:",
    ]
    for prompt, by_temperature in samples.items():
        for temperature, text in by_temperature.items():
            lines += ["", f"prompt {prompt!r}, T = {temperature}:", ""]
            lines += ["    " + line for line in text.split("\n")]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    temperatures = check_flags(args)
    data = prepare_data(args)
    run = start_run(EXPERIMENT, vars(args), safe_to_change=SAFE_TO_CHANGE)
    print(f"Run directory: {run.dir}\n{data.report()}", flush=True)
    run.save_json(
        "data.json",
        {
            "vocabulary": data.vocabulary.to_config(),
            "passages": {name: len(part) for name, part in data.corpus.items()},
            "characters": {name: part.characters for name, part in data.corpus.items()},
        },
    )
    train_x, train_y = data.windows["train"]
    train = window_dataset(
        train_x, train_y, args.batch_size, shuffle=True, seed=args.seed, steps=data.steps_per_epoch
    )
    chosen = np.sort(np.random.default_rng(args.seed).permutation(len(train_x))[: args.train_eval_windows])
    evaluate = {
        "train": window_dataset(train_x[chosen], train_y[chosen], EVAL_BATCH),
        "validation": window_dataset(*data.windows["validation"], EVAL_BATCH),
    }
    with make_strategy(args.strategy).scope():
        model = compile_model(build_model(args, data.vocabulary.size), args, data.steps_per_epoch)
    prefix = args.cell  # TensorBoard runs <cell>/train, <cell>/validation, <cell>/test
    curves = EpochCurves(run.curves, evaluate, prefix=prefix, gap_splits=("train", "validation"))
    with run.phase("train"):
        model.fit(
            train,
            epochs=args.epochs,
            # Last: a backup follows the epoch's points, so --resume neither skips nor repeats one.
            callbacks=[curves, LanguageModelScalars(run.curves, prefix), *run.resume_callbacks(train)],
            shuffle=False,
            verbose=1 if sys.stdout.isatty() else 2,
        )
    test_set = window_dataset(*data.windows["test"], EVAL_BATCH)
    test = run.once("test", evaluate_test, run, model, test_set, prefix, args.epochs)
    samples = run.once("samples", write_samples, args, run, model, data.vocabulary, temperatures, args.epochs)

    final = {
        split: tuple(run.curves.values(f"{prefix}/{split}", tag)[-1] for tag in ("loss", "error"))
        for split in ("train", "validation")
    }
    train_seconds = run.phases.seconds("train") or 0.0
    summary = summary_text(args, data, final, test, samples, train_seconds, model.count_params())
    print("\n" + summary)
    run.finish(
        metrics={
            "validation_nats_per_char": final["validation"][0],
            "test_nats_per_char": test["nats_per_char"],
            "perplexity": math.exp(final["validation"][0]),
            "test_perplexity": math.exp(test["nats_per_char"]),
            "train_nats_per_char": final["train"][0],
            "validation_error": final["validation"][1],
            "gradient_norm": run.curves.values(f"{prefix}/train", "gradient_norm")[-1],
            "train_seconds": train_seconds,
            "parameters": model.count_params(),
            "vocabulary_size": data.vocabulary.size,
        },
        details={
            "passages": {name: len(part) for name, part in data.corpus.items()},
            "characters": {name: part.characters for name, part in data.corpus.items()},
            "samples": samples,
        },
        summary=summary,
        step=args.epochs,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
