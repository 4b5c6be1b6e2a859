"""Translating dates with attention: "3 may 1979" -> "1979-05-03", decoded greedily and by beam search.

Course 5, Week 3: "Basic models" (encoder-decoder), "Picking the most
likely sentence", "Beam search", "Refinements to beam search" (length
normalization), "Error analysis in beam search", "Bleu score",
"Attention model intuition", "Attention model", and the programming
exercise "Neural machine translation" (human-readable dates to ISO dates).

The data is generated offline as the course generates it (`pipelines.dates`):
Faker draws dates from 1970 to 2029 and Babel writes each one in one of the
course's formats ("3 may 1979", "thursday may 3 1979", "5/3/79", ...),
lowercased and without commas; the target is the ISO date (by default
20,000 training, 2,000 dev and 2,000 test examples). Each date goes to
train, dev or test by a hash of the date, so no held-out date is seen in
training in any format. `--locales` mixes Babel locales into the training
data; `--other-locales` tests the model on test dates written in locales it
never saw. `--direction iso_to_human` is the reverse task, "1979-05-03" ->
"may 3 1979", whose outputs vary in length. Characters are the tokens, with
<start> and <eos>; the vocabularies come from the training split.

The model (`kerasdl.nn.attention`): a character embedding, a bidirectional
LSTM encoder (kerasdl's `LSTMCell` in `keras.layers.RNN`, or
`--encoder-cell keras` for Keras' LSTM layer) giving a<t'> = [a->; a<-],
and the post-attention LSTM decoder. At each output step t the attention
weights alpha<t,t'> are a softmax over t' of a small network of
[a<t'>; s<t-1>] (Dense(10, tanh), then Dense(1, ReLU) as in the course),
the context is c<t> = sum alpha<t,t'> a<t'>, and the decoder's LSTM reads
[c<t>; E y<t-1>]: the previous character, the true one during training
(teacher forcing) and its own choice when decoding. `--no-teacher-forcing`
is the course's decoder, which reads only c<t>: y<t> does not depend on
the characters chosen before it, so greedy decoding already takes the most
likely character at every position and beam search can change only where
the output ends. The loss is the cross-entropy per target character
(<eos> included), in nats.

Decoding (`kerasdl.nn.beam_search`): greedy, and beam search of width B
ranked by the lesson's length-normalized score 1/T_y^alpha sum log P; a
finished output (<eos>) leaves the beam and stops growing. The sweep tries
every B of `--beam-widths` with every alpha of `--alphas` on dev (the
search does not depend on alpha, only the final ranking does), picks the
best pair by dev exact match (then BLEU), and the test split is decoded
once at the end, greedily and with that pair. Metrics: exact match (the
whole output right) and corpus BLEU (`kerasdl.evaluation.bleu`, smoothing
"exp"; the tokens are characters, as sacrebleu's tokenize="char": the
outputs are a few words, too short for word 4-grams).
The beam-search error analysis (`kerasdl.diagnostics.beam_error_analysis`)
compares, for every dev error, P(y*|x) with P(y_hat|x) under the same
normalization, blames the search when P(y*|x) is higher and the model
otherwise, for greedy decoding and for the chosen beam.

Run:
    python -m experiments.date_translation                           # default profile
    python -m experiments.date_translation --direction iso_to_human  # the reverse task (ISO -> spelled out)
    python -m experiments.date_translation --locales en_US,fr_FR,de_DE --other-locales es_ES,it_IT
    python -m experiments.date_translation --no-teacher-forcing      # the course's decoder
    python -m experiments.date_translation --epochs 20 --resume      # extend an interrupted run
    tensorboard --logdir logs/date_translation

In TensorBoard: Scalars "error" overlays `model/train` (a fixed sample of
training examples) and `model/dev`: 1 - greedy exact match, per epoch;
"loss" is the teacher-forced cross-entropy per character; `model/gaps` has
dev minus train. Runs `sweep/B<width>` hold "exact_match" and "bleu" on dev
against 100 alpha (the x axis), one line per beam width. Images
"attention/<n>" show the attention map of each `--attention-examples` date:
one row per output character, one column per input character, darker is
more attention. Text "translations" lists those examples' outputs, Text
"beam_error_analysis" the lesson's table (who is at fault, the share of
each, every error's scores), Text "summary" the final tables.
`results.json` has the dev and test metrics, the chosen B and alpha, the
shares of errors blamed on search and model, and the other locales' exact
match.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from PIL import Image, ImageDraw, ImageFont

from kerasdl.diagnostics.beam_error_analysis import BeamErrorAnalysis, analyse_beam_errors
from kerasdl.evaluation.bleu import corpus_bleu
from kerasdl.harness.cli import check_at_least, experiment_parser, fail
from kerasdl.harness.curves import EpochCurves
from kerasdl.harness.run import Run, start_run
from kerasdl.nn.attention import AttentionDecoder
from kerasdl.nn.beam_search import Hypothesis, beam_search, greedy_search, sequence_log_probabilities
from kerasdl.nn.cells import LSTMCell
from kerasdl.nn.schedules import ExponentialDecay
from kerasdl.training.distribute import make_strategy
from pipelines.dates import (
    DIRECTIONS,
    EOS,
    PAD,
    REVERSE_STYLES,
    START,
    CharacterVocabulary,
    DatePairs,
    check_locales,
    date_splits,
    translation_dataset,
)

EXPERIMENT = "date_translation"
DEFAULT_OTHER_LOCALES = "fr_FR,de_DE"  # never trained on: how far the model carries to other languages
DECODE_CHUNK = 500  # examples decoded at a time (beam search holds B rows for each)
BLEU_TOKENS = "char"  # outputs of three or four words have few or no word 4-grams: score characters
SAFE_TO_CHANGE = {"epochs"}  # a longer training of the same model on the same data
COURSE_EXAMPLES = "3 May 1979|5 April 09|Saturday May 9 2018|March 3 2001|1 March 2001"
REVERSE_EXAMPLES = "1979-05-03|2009-04-05|2018-05-09|2001-03-01"

DESCRIPTION = """\
Neural machine translation of dates with attention (Course 5, Week 3):
human-readable dates in the course's formats, generated offline with Faker
and Babel, translated to ISO dates (or back, --direction iso_to_human) by a
bidirectional LSTM encoder and an attention decoder. Decodes greedily and by
beam search with length normalization over a sweep of beam widths and
alphas, reports exact match and BLEU on dev (test once at the end), the
beam-search error analysis (search or model at fault) and attention maps.
--resume continues an interrupted run where it stopped.
"""


def build_parser():
    parser = experiment_parser(EXPERIMENT, DESCRIPTION)
    data = parser.add_argument_group("data")
    data.add_argument("--direction", choices=DIRECTIONS, default="human_to_iso", help="the task")
    data.add_argument("--locales", default="en_US", help="comma-separated Babel locales of the training data")
    data.add_argument(
        "--other-locales",
        default=None,
        help="comma-separated locales the test dates are also written in, never trained on ('' for none; "
        f"default: {DEFAULT_OTHER_LOCALES} for human_to_iso, none for iso_to_human)",
    )
    data.add_argument(
        "--reverse-style", choices=REVERSE_STYLES, default="long", help="Babel style of iso_to_human targets"
    )
    data.add_argument("--train-size", type=int, default=20000, help="training examples")
    data.add_argument("--dev-size", type=int, default=2000, help="dev examples (dates never in training)")
    data.add_argument("--test-size", type=int, default=2000, help="test examples, decoded once at the end")
    model = parser.add_argument_group("model")
    model.add_argument("--encoder-units", type=int, default=32, help="n_a, each direction of the Bi-LSTM")
    model.add_argument("--decoder-units", type=int, default=64, help="n_s, the post-attention LSTM's state")
    model.add_argument("--attention-units", type=int, default=10, help="the attention network's hidden units")
    model.add_argument("--embedding-size", type=int, default=16, help="size of each character's embedding")
    model.add_argument(
        "--energy-activation",
        choices=("relu", "linear"),
        default="relu",
        help="the attention energy's activation: relu (the course) or linear (Bahdanau et al.)",
    )
    model.add_argument(
        "--teacher-forcing",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="feed the decoder y<t-1> (the true one in training); --no-teacher-forcing: the course's decoder",
    )
    model.add_argument(
        "--encoder-cell",
        choices=("kerasdl", "keras"),
        default="kerasdl",
        help="the encoder's LSTM: kerasdl.nn.cells.LSTMCell in keras.layers.RNN, or keras.layers.LSTM",
    )
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=5, help="passes over the training examples")
    train.add_argument("--batch-size", type=int, default=64, help="examples per batch")
    train.add_argument("--learning-rate", type=float, default=0.005, help="Adam's alpha0 (the course's)")
    train.add_argument(
        "--decay-base", type=float, default=0.8, help="alpha = base^epoch_num * alpha0; 1 keeps alpha0"
    )
    train.add_argument(
        "--train-eval-size", type=int, default=1000, help="training examples decoded after each epoch"
    )
    decoding = parser.add_argument_group("decoding")
    decoding.add_argument("--beam-widths", default="1,3,5", help="comma-separated beam widths B to sweep")
    decoding.add_argument(
        "--alphas", default="0,0.5,0.7,1", help="comma-separated length-normalization exponents to sweep"
    )
    decoding.add_argument(
        "--max-output-length",
        type=int,
        default=None,
        help="the most characters a decoded output may have, <eos> included (default: longest target + 5)",
    )
    decoding.add_argument(
        "--attention-examples",
        default=None,
        help=f"'|'-separated inputs whose attention maps are drawn (default: {COURSE_EXAMPLES!r}, "
        f"or {REVERSE_EXAMPLES!r} for iso_to_human)",
    )
    return parser


def _numbers(text: str, kind, flag: str, valid) -> list:
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or not all(valid(v) for v in values):
        fail(
            f"{flag} must be comma-separated {'integers >= 1' if kind is int else 'numbers >= 0'}; "
            f"received {text!r}"
        )
    return values


@dataclass(frozen=True)
class Settings:
    """The flags that are lists, parsed."""

    locales: tuple[str, ...]
    other_locales: tuple[str, ...]
    beam_widths: list[int]
    alphas: list[float]
    examples: list[str]


def check_flags(args) -> Settings:
    """Fails with one error line on a bad flag; returns the parsed lists."""
    check_at_least(args, 1, "train_size", "dev_size", "test_size", "encoder_units", "decoder_units")
    check_at_least(args, 1, "attention_units", "embedding_size", "epochs", "batch_size", "train_eval_size")
    check_at_least(args, 1, "max_output_length")
    if not (math.isfinite(args.learning_rate) and args.learning_rate > 0):
        fail(f"--learning-rate must be a positive number; received {args.learning_rate}")
    if not 0 < args.decay_base <= 1:
        fail(f"--decay-base must be in (0, 1]; received {args.decay_base}")
    try:
        locales = check_locales(loc.strip() for loc in args.locales.split(",") if loc.strip())
        if args.other_locales is None:
            args.other_locales = DEFAULT_OTHER_LOCALES if args.direction == "human_to_iso" else ""
        others = [loc.strip() for loc in args.other_locales.split(",") if loc.strip()]
        other_locales = check_locales(others) if others else ()
    except ValueError as error:
        fail(f"--locales/--other-locales: {error}")
    if args.direction == "iso_to_human" and (len(locales) != 1 or other_locales):
        fail("--direction iso_to_human writes dates in one locale: give one --locales and no --other-locales")
    widths = _numbers(args.beam_widths, int, "--beam-widths", lambda v: v >= 1)
    alphas = _numbers(args.alphas, float, "--alphas", lambda v: math.isfinite(v) and v >= 0)
    default = COURSE_EXAMPLES if args.direction == "human_to_iso" else REVERSE_EXAMPLES
    examples = [e for e in (args.attention_examples or default).split("|") if e.strip()]
    return Settings(locales, other_locales, sorted(set(widths)), sorted(set(alphas)), examples)


# -- data ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateData:
    """The splits, the vocabularies built on train, and every split encoded."""

    splits: dict[str, DatePairs]
    source_vocabulary: CharacterVocabulary
    target_vocabulary: CharacterVocabulary
    max_output_length: int

    def sources(self, name: str) -> np.ndarray:
        return self.source_vocabulary.encode(self.splits[name].sources)

    def targets(self, name: str) -> np.ndarray:
        return self.target_vocabulary.encode(self.splits[name].targets, end=True)

    def report(self) -> str:
        lines = [
            f"{name}: {len(pairs):,} examples, e.g. {pairs.sources[0]!r} -> {pairs.targets[0]!r}"
            for name, pairs in self.splits.items()
        ]
        return "\n".join(
            [
                *lines,
                f"vocabularies: {self.source_vocabulary.size} input ids, "
                f"{self.target_vocabulary.size} output ids",
            ]
        )


def prepare_data(args, settings: Settings) -> DateData:
    sizes = {"train": args.train_size, "dev": args.dev_size, "test": args.test_size}
    splits = date_splits(
        sizes, args.seed, settings.locales, direction=args.direction, reverse_style=args.reverse_style
    )
    source = CharacterVocabulary.from_texts(splits["train"].sources)
    target = CharacterVocabulary.from_texts(splits["train"].targets)
    longest = max(len(t) for pairs in splits.values() for t in pairs.targets) + 1  # + <eos>
    return DateData(splits, source, target, args.max_output_length or longest + 4)


# -- model --------------------------------------------------------------------------------------------


def build_model(args, source_size: int, target_size: int) -> keras.Model:
    """Embedding -> Bi-LSTM encoder -> attention decoder, trained on (x, y<t-1>) -> logits of y<t>."""
    source = keras.Input((None,), dtype="int32", name="source")
    previous = keras.Input((None,), dtype="int32", name="previous_tokens")
    x = keras.layers.Embedding(source_size, args.embedding_size, mask_zero=True, name="source_embedding")(
        source
    )
    if args.encoder_cell == "kerasdl":
        rnn = keras.layers.RNN(LSTMCell(args.encoder_units), return_sequences=True)
    else:
        rnn = keras.layers.LSTM(args.encoder_units, return_sequences=True)
    encoded = keras.layers.Bidirectional(rnn, name="encoder")(x)
    decoder = AttentionDecoder(
        args.decoder_units,
        target_size,
        embedding_size=args.embedding_size if args.teacher_forcing else 0,
        attention_units=args.attention_units,
        energy_activation=args.energy_activation,
        name="decoder",
    )
    return keras.Model([source, previous], decoder(encoded, previous), name="date_translator")


def compile_model(model: keras.Model, args, steps_per_epoch: int) -> keras.Model:
    learning_rate = args.learning_rate
    if args.decay_base != 1:
        learning_rate = ExponentialDecay(args.learning_rate, args.decay_base, steps_per_epoch)
    # Per target character: padding has weight 0 and the mean divides by the real characters.
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss)
    return model


class Translator:
    """The trained model one output step at a time, for greedy and beam search (`kerasdl.nn.beam_search`).

    The encoder runs once per batch of inputs; the step function looks each
    hypothesis' input up by its example index, so the search only moves the
    decoder's state [s, m] between hypotheses.
    """

    def __init__(self, model: keras.Model, max_length: int):
        self.model, self.max_length = model, max_length
        self.embedding = model.get_layer("source_embedding")
        self.encoder = model.get_layer("encoder")
        self.decoder = model.get_layer("decoder")
        # One trace each: every batch size, input length and number of hypotheses fits these shapes.
        n_a, n_s = self.decoder.attention.values_size, self.decoder.units
        units, dtype = self.decoder.attention.units, self.decoder.compute_dtype
        # No Python control flow inside: no AutoGraph needed (nor its reading of the source file).
        self._encode = tf.function(
            self.encode, input_signature=[tf.TensorSpec([None, None], tf.int32)], autograph=False
        )
        self._step = tf.function(
            self.step,
            autograph=False,
            input_signature=[
                tf.TensorSpec([None, None, n_a], dtype),  # encoded
                tf.TensorSpec([None, None, units], dtype),  # prepared
                tf.TensorSpec([None, None], tf.bool),  # mask
                tf.TensorSpec([None], tf.int32),  # tokens
                tf.TensorSpec([None, n_s], dtype),  # s
                tf.TensorSpec([None, n_s], dtype),  # memory
                tf.TensorSpec([None], tf.int32),  # example
            ],
        )

    def encode(self, source):
        mask = ops.not_equal(source, PAD)
        encoded = self.encoder(self.embedding(source), mask=mask)
        return encoded, self.decoder.prepare(encoded), mask

    def step(self, encoded, prepared, mask, tokens, s, memory, example):
        def take(values):
            return ops.take(values, example, axis=0)

        logits, (s, memory), _ = self.decoder.step(
            take(encoded), take(prepared), tokens, [s, memory], take(mask)
        )
        return ops.log_softmax(logits, axis=-1), s, memory

    def search_inputs(self, source: np.ndarray):
        """(step, initial state, start tokens) of a batch of inputs, for `kerasdl.nn.beam_search`."""
        encoded, prepared, mask = self._encode(tf.constant(source, tf.int32))

        def step(tokens, state):
            example = tf.constant(state["example"], tf.int32)
            log_probs, s, memory = self._step(
                encoded, prepared, mask, tf.constant(tokens, tf.int32), state["s"], state["m"], example
            )
            return log_probs, {"s": s, "m": memory, "example": state["example"]}

        zeros = np.zeros((len(source), self.decoder.units), np.float32)
        state = {"s": zeros, "m": zeros.copy(), "example": np.arange(len(source))}
        return step, state, np.full(len(source), START)

    def _chunks(self, source: np.ndarray):
        for begin in range(0, len(source), DECODE_CHUNK):
            yield begin, self.search_inputs(source[begin : begin + DECODE_CHUNK])

    def greedy(self, source: np.ndarray) -> list[Hypothesis]:
        found = []
        for _, (step, state, start) in self._chunks(source):
            found += greedy_search(step, state, start, EOS, self.max_length)
        return found

    def beam(self, source: np.ndarray, width: int) -> list[list[Hypothesis]]:
        """Every candidate of each example's beam (rank them for any alpha: `best`)."""
        found = []
        for _, (step, state, start) in self._chunks(source):
            found += beam_search(step, state, start, EOS, self.max_length, width, alpha=0.0)
        return found

    def log_probabilities(self, source: np.ndarray, sequences) -> np.ndarray:
        """log P(y | x) of given outputs (each ending with <eos>), as the search scores them."""
        totals = []
        for begin, (step, state, start) in self._chunks(source):
            chunk = sequences[begin : begin + DECODE_CHUNK]
            totals.append(sequence_log_probabilities(step, state, start, EOS, chunk))
        return np.concatenate(totals) if totals else np.zeros(0)

    def attention(self, source: np.ndarray, output: Sequence) -> np.ndarray:
        """alpha [T_y, T_x] of one input while the decoder writes `output` and then <eos>."""
        previous = np.array([[START, *output]], np.int32)
        encoded, _, mask = self._encode(tf.constant(source[None], tf.int32))
        _, alphas = self.decoder(encoded, previous, encoded_mask=mask, return_attention_scores=True)
        return ops.convert_to_numpy(alphas)[0]


def best(candidates: list[Hypothesis], alpha: float) -> Hypothesis:
    """The candidate with the highest 1/T_y^alpha log P (the first on a tie)."""
    return max(candidates, key=lambda h: h.score(alpha))


def target_tokens(targets: np.ndarray) -> list[tuple[int, ...]]:
    """Each target's ids without <eos> and padding: y* as the search would write it."""
    return [tuple(int(i) for i in row[: int(np.argmax(row == EOS))]) for row in targets]


def scores(outputs: list[Hypothesis], references: list[tuple[int, ...]], vocabulary) -> dict:
    """Exact match (finished, every character right) and corpus BLEU of decoded outputs."""
    exact = np.mean([h.finished and h.tokens == r for h, r in zip(outputs, references, strict=True)])
    texts = [vocabulary.decode(h.tokens) for h in outputs]
    bleu = corpus_bleu(texts, [[vocabulary.decode(r)] for r in references], tokenize=BLEU_TOKENS).score
    return {"exact_match": float(exact), "bleu": float(bleu)}


class GreedyExactMatch:
    """`evaluate(dataset)` for `EpochCurves`: the teacher-forced loss per character and the exact match.

    Both come from the step function the search uses: the loss is
    -log P(y* | x) summed over a split and divided by its characters (<eos>
    included), the accuracy the share of greedy outputs that are exactly y*.
    """

    def __init__(self, model: keras.Model, translator: Translator):
        self.model, self.translator = model, translator

    @property
    def optimizer(self):
        return self.model.optimizer

    def evaluate(self, dataset) -> dict:
        sources, targets = [], []
        for (source, _), target, _ in dataset:
            sources.append(source.numpy())
            targets += target_tokens(target.numpy())
        width = max(s.shape[1] for s in sources)
        source = np.concatenate([np.pad(s, ((0, 0), (0, width - s.shape[1]))) for s in sources])
        log_probs = self.translator.log_probabilities(source, targets)
        outputs = self.translator.greedy(source)
        exact = np.mean([h.finished and h.tokens == r for h, r in zip(outputs, targets, strict=True)])
        return {"loss": -log_probs.sum() / sum(len(t) + 1 for t in targets), "accuracy": float(exact)}


# -- decoding phases ------------------------------------------------------------------------------------


def sweep(run: Run, translator: Translator, data: DateData, settings: Settings, step: int):
    """Every (B, alpha) on dev: exact match and BLEU, logged per B against 100 alpha; the best pair."""
    source, references = data.sources("dev"), target_tokens(data.targets("dev"))
    rows = []
    for width in settings.beam_widths:
        candidates = translator.beam(source, width)
        for alpha in settings.alphas:
            result = scores([best(c, alpha) for c in candidates], references, data.target_vocabulary)
            rows.append({"beam_width": width, "alpha": alpha, **result})
            for tag, value in result.items():
                run.curves.log(f"sweep/B{width}", tag, round(100 * alpha), value)
    run.curves.save()
    greedy = scores(translator.greedy(source), references, data.target_vocabulary)
    chosen = max(rows, key=lambda r: (r["exact_match"], r["bleu"], -r["beam_width"]))
    return {"rows": rows, "greedy": greedy, "chosen": chosen}


def error_analyses(run: Run, translator: Translator, data: DateData, chosen: dict, step: int) -> dict:
    """The lesson's table on dev: for greedy decoding and for the chosen (B, alpha)."""
    source, references = data.sources("dev"), target_tokens(data.targets("dev"))
    reference_log_probs = translator.log_probabilities(source, references)
    vocabulary = data.target_vocabulary
    searches = {
        "greedy": ([[h] for h in translator.greedy(source)], 0.0),
        f"beam B={chosen['beam_width']} alpha={chosen['alpha']:g}": (
            translator.beam(source, chosen["beam_width"]),
            chosen["alpha"],
        ),
    }
    results, sections = {}, []
    for name, (candidates, alpha) in searches.items():
        outputs = [best(c, alpha) for c in candidates]
        analysis = analyse_beam_errors(
            [vocabulary.decode(r) for r in references],
            [vocabulary.decode(h.tokens) + ("" if h.finished else " (unfinished)") for h in outputs],
            reference_log_probs,
            [h.log_probability for h in outputs],
            [len(r) + 1 for r in references],
            [h.length for h in outputs],
            alpha,
        )
        results[name] = summarize_analysis(analysis)
        sections.append(f"### {name}\n\n{analysis.table(limit=30)}")
    with run.writer("beam_error_analysis").as_default():
        tf.summary.text("beam_error_analysis", "\n\n".join(sections), step=step)
    return results


def summarize_analysis(analysis: BeamErrorAnalysis) -> dict:
    return {
        "errors": analysis.errors,
        "search_errors": analysis.search_errors,
        "model_errors": analysis.model_errors,
        "search_share": analysis.search_share,
        "model_share": analysis.model_share,
        "table": analysis.table(limit=15),
    }


def evaluate_test(translator, data: DateData, chosen: dict, other: dict) -> dict:
    """Test once: greedy and the chosen (B, alpha), on the test split and its other-locale copies."""
    results = {}
    for name, (source, targets) in {"test": (data.sources("test"), data.targets("test")), **other}.items():
        references = target_tokens(targets)
        greedy = scores(translator.greedy(source), references, data.target_vocabulary)
        candidates = translator.beam(source, chosen["beam_width"])
        beam = scores([best(c, chosen["alpha"]) for c in candidates], references, data.target_vocabulary)
        results[name] = {"greedy": greedy, "beam": beam}
    return results


def other_locale_sets(args, settings: Settings, data: DateData) -> dict:
    """The test dates written in each `--other-locales` locale, encoded with the training vocabularies."""
    sets = {}
    for locale in settings.other_locales:
        pairs = date_splits({"test": args.test_size}, args.seed, (locale,))["test"]
        sets[f"test_{locale}"] = (
            data.source_vocabulary.encode(pairs.sources),
            data.target_vocabulary.encode(pairs.targets, end=True),
        )
    return sets


def attention_maps(run: Run, translator: Translator, data: DateData, settings: Settings, step: int) -> dict:
    """Each example's greedy translation, and its attention map as a TensorBoard image."""
    translations = {}
    for n, example in enumerate(settings.examples):
        text = example.lower().replace(",", "") if run.config["direction"] == "human_to_iso" else example
        source = data.source_vocabulary.encode([text])[0]
        (output,) = translator.greedy(source[None])
        translated = data.target_vocabulary.decode(output.tokens)
        alphas = translator.attention(source, output.tokens)
        image = attention_map_image(alphas, list(text), [*translated, "<eos>"])
        with run.writer().as_default():
            tf.summary.image(
                f"attention/{n}", image[None], step=step, description=f"{text!r} -> {translated!r}"
            )
        translations[example] = translated
    lines = ["| input | output |", "|---|---|", *(f"| {k} | {v} |" for k, v in translations.items())]
    with run.writer().as_default():
        tf.summary.text("translations", "\n".join(lines), step=step)
    return translations


def attention_map_image(alphas: np.ndarray, inputs: list[str], outputs: list[str], cell: int = 14):
    """alpha<t,t'> as a heat map (rows: output characters, columns: input characters), uint8 [H, W, 3]."""
    font = ImageFont.load_default()
    left, top = 40, 16
    t_y, t_x = len(outputs), len(inputs)
    canvas = Image.new("RGB", (left + t_x * cell + 2, top + t_y * cell + 2), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    for j, character in enumerate(inputs):
        draw.text((left + j * cell + 4, 2), character, fill=(0, 0, 0), font=font)
    for i, character in enumerate(outputs):
        draw.text((2, top + i * cell + 1), character, fill=(0, 0, 0), font=font)
        for j in range(t_x):
            shade = int(round(255 * (1 - float(alphas[i, j]))))
            box = [left + j * cell, top + i * cell, left + (j + 1) * cell - 1, top + (i + 1) * cell - 1]
            draw.rectangle(box, fill=(shade, shade, 255))
    return np.asarray(canvas)


# -- summary -----------------------------------------------------------------------------------------


def summary_text(args, data, sweep_result, analyses, test, translations, seconds, parameters) -> str:
    chosen, greedy = sweep_result["chosen"], sweep_result["greedy"]
    lines = [
        f"# Date translation ({args.direction}), {parameters:,} parameters, "
        f"{seconds[0]:.0f} s of training ({seconds[1]:.0f} s of CPU time)",
        "",
        *(f"- {line}" for line in data.report().split("\n")),
        "",
        "| split | decoding | exact match | BLEU |",
        "|---|---|---:|---:|",
        f"| dev | greedy | {greedy['exact_match']:.2%} | {greedy['bleu']:.2f} |",
        f"| dev | beam B={chosen['beam_width']} alpha={chosen['alpha']:g} | {chosen['exact_match']:.2%} | "
        f"{chosen['bleu']:.2f} |",
    ]
    for name, result in test.items():
        for decoding, values in result.items():
            label = (
                decoding
                if decoding == "greedy"
                else f"beam B={chosen['beam_width']} alpha={chosen['alpha']:g}"
            )
            lines.append(f"| {name} | {label} | {values['exact_match']:.2%} | {values['bleu']:.2f} |")
    lines += [
        "",
        "Sweep on dev (exact match / BLEU):",
        "",
        "| B | "
        + " | ".join(f"alpha={a:g}" for a in sorted({r["alpha"] for r in sweep_result["rows"]}))
        + " |",
    ]
    alphas = sorted({r["alpha"] for r in sweep_result["rows"]})
    lines.append("|---:|" + "---:|" * len(alphas))
    for width in sorted({r["beam_width"] for r in sweep_result["rows"]}):
        cells = {r["alpha"]: r for r in sweep_result["rows"] if r["beam_width"] == width}
        lines.append(
            f"| {width} | "
            + " | ".join(f"{cells[a]['exact_match']:.2%} / {cells[a]['bleu']:.2f}" for a in alphas)
            + " |"
        )
    for name, analysis in analyses.items():
        lines += ["", f"## Beam-search error analysis, {name}", "", analysis["table"]]
    lines += ["", "Attention examples:", "", *(f"- {k!r} -> {v!r}" for k, v in translations.items())]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    settings = check_flags(args)
    run = start_run(EXPERIMENT, vars(args), safe_to_change=SAFE_TO_CHANGE)
    data = prepare_data(args, settings)
    print(f"Run directory: {run.dir}\n{data.report()}", flush=True)
    run.save_json(
        "data.json",
        {
            "source_vocabulary": data.source_vocabulary.to_config(),
            "target_vocabulary": data.target_vocabulary.to_config(),
            "sizes": {name: len(pairs) for name, pairs in data.splits.items()},
        },
    )
    train = translation_dataset(
        data.sources("train"), data.targets("train"), args.batch_size, shuffle=True, seed=args.seed
    )
    steps_per_epoch = int(train.cardinality())
    chosen_rows = np.sort(
        np.random.default_rng(args.seed).permutation(args.train_size)[: args.train_eval_size]
    )
    evaluate = {
        "train": translation_dataset(
            data.sources("train")[chosen_rows], data.targets("train")[chosen_rows], 500
        ),
        "dev": translation_dataset(data.sources("dev"), data.targets("dev"), 500),
    }
    with make_strategy(args.strategy).scope():
        model = build_model(args, data.source_vocabulary.size, data.target_vocabulary.size)
        compile_model(model, args, steps_per_epoch)
    translator = Translator(model, data.max_output_length)
    curves = EpochCurves(
        run.curves,
        evaluate,
        prefix="model",
        gap_splits=("train", "dev"),
        evaluator=GreedyExactMatch(model, translator),
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
    sweep_result = run.once("sweep", sweep, run, translator, data, settings, step)
    chosen = sweep_result["chosen"]
    analyses = run.once("beam_error_analysis", error_analyses, run, translator, data, chosen, step)
    translations = run.once("attention_maps", attention_maps, run, translator, data, settings, step)
    test = run.once("test", evaluate_test, translator, data, chosen, other_locale_sets(args, settings, data))
    train_seconds = run.phases.seconds("train") or 0.0
    seconds = (train_seconds, train_cpu_seconds)
    summary = summary_text(
        args, data, sweep_result, analyses, test, translations, seconds, model.count_params()
    )
    beam_name = next(name for name in analyses if name != "greedy")
    metrics = {
        "dev_exact_match_greedy": sweep_result["greedy"]["exact_match"],
        "dev_bleu_greedy": sweep_result["greedy"]["bleu"],
        "dev_exact_match_beam": chosen["exact_match"],
        "dev_bleu_beam": chosen["bleu"],
        "beam_width": chosen["beam_width"],
        "alpha": chosen["alpha"],
        "search_share_greedy": analyses["greedy"]["search_share"],
        "search_share_beam": analyses[beam_name]["search_share"],
        "model_share_beam": analyses[beam_name]["model_share"],
        "train_seconds": train_seconds,
        "train_cpu_seconds": train_cpu_seconds,
        "parameters": model.count_params(),
    }
    for name, result in test.items():
        for decoding, values in result.items():
            metrics[f"{name}_exact_match_{decoding}"] = values["exact_match"]
            metrics[f"{name}_bleu_{decoding}"] = values["bleu"]
    run.finish(
        metrics=metrics,
        details={
            "sweep": sweep_result["rows"],
            "beam_error_analysis": analyses,
            "test": test,
            "translations": translations,
        },
        summary=summary,
        step=step,
        echo=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
