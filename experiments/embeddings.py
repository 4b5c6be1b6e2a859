"""Word embeddings: skip-gram with negative sampling and GloVe, judged by analogies, then debiased.

Course 5, Week 2: "Word Representation", "Using word embeddings",
"Properties of word embeddings" (analogies by cosine similarity),
"Learning word embeddings", "Word2Vec", "Negative Sampling", "GloVe word
vectors", "Debiasing word embeddings".

The corpus is offline (`pipelines.words`): Debian's `fortunes` and the
synsets of Debian's `wordnet-base`, each synset's words followed by its
gloss, 132,876 passages and 2,209,095 tokens (lowercase words, apostrophes
inside words kept). `--corpus tfds:<name> --download` trains on a
TensorFlow Datasets text instead. Words seen fewer than `--min-count`
times are dropped before the windows are cut, as word2vec does.

Skip-gram with negative sampling (`kerasdl.nn.word2vec.SkipGram`): each
epoch subsamples frequent words (word2vec's formula, threshold `--sample`),
draws a window size 1..`--window` per target word and pairs it with every
context word within it; each pair gets `--negatives` words drawn from the
unigram distribution to the 3/4, never the pair's context word. The loss
of a pair is -log sigma(u_c . v_w) - sum_k log sigma(-u_k . v_w).
Optimiser: word2vec's plain SGD with its learning rate falling linearly
from `--learning-rate` (per pair; a batch's mean loss is stepped at that
rate times the batch size) to 1/250 of it at the end, as gensim does.

GloVe (`kerasdl.nn.glove.GloVe`): the co-occurrence counts X_ij of the
same stream (every pair within `--window`, weighted 1/distance), fitted by
weighted least squares, f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2
summed over the nonzero entries, f(x) = (x / x_max)^alpha below x_max;
AdaGrad as in the paper, whose rate 0.05 is for one step per entry: a
batch of `--glove-batch-size` entries steps once, so the default
`--glove-learning-rate` is larger (`kerasdl.nn.glove`); it was chosen on
WordSim-353, not on the analogies (benchmarks/glove_learning_rate.py), so
GloVe's WordSim-353 figure is the one that chose it and its analogy
accuracy is the held-out figure. The vectors are w + w~.

Evaluation (`kerasdl.nn.word_vectors.WordVectors`), after every epoch and
at the end: the Google analogy set (gensim's `questions-words.txt`, 19,544
questions; only those whose four words are in the vocabulary count, the
"covered" subset, reported per section), "a : b :: c : ?" answered by the
word nearest e_b - e_a + e_c in cosine; Spearman's rho against the human
ratings of WordSim-353; nearest neighbours of a few words. Then debiasing
(`kerasdl.nn.debias`, Bolukbasi et al. 2016): the gender direction g as the
first principal component of the definitional pairs (she-he, woman-man,
...), hard debiasing (neutralize every word but the gender-specific ones,
equalize the pairs), the projections of a few occupations on g before and
after, and Gonen and Goldberg's "lipstick on a pig" check: the share of
the 500 most male and 500 most female words (by their original
projection) that k-means on their debiased vectors still sorts by their
original side (0.5 would mean the bias is gone, 1 that all of it is
left). The word files ship with gensim 4.3.3's wheel: `make data` unpacks
them into ~/.cache/kerasdl/gensim-4.3.3/.

Run:
    python -m experiments.embeddings                      # both methods, default profile, a few minutes
    python -m experiments.embeddings --method sgns --dim 100 --epochs 5   # gensim's settings (benchmark)
    python -m experiments.embeddings --method glove --glove-epochs 25
    python -m experiments.embeddings --resume             # continue an interrupted run
    tensorboard --logdir logs/embeddings

In TensorBoard: Scalars "loss" of runs `sgns/train` (mean loss per pair)
and `glove/train` (weighted squared error per nonzero entry) per epoch,
with "learning_rate" and "pairs_per_second" (entries per second for
GloVe); "accuracy", "semantic" and "syntactic" of runs `<method>/analogies`
per epoch (over the covered questions). Text "summary" holds the tables
(per-section analogy accuracy, neighbours, debiasing); the Projector has one
run per method (`projector/<method>`, the `--projector-words` most frequent
words, with their counts) and `projector/<method>_debiased`. The vectors
are saved in the word2vec text format as `skipgram.txt` and `glove.txt` in
the run directory (`experiments.sentiment --embeddings` reads them). results.json
has `<method>_analogy_accuracy`, `<method>_analogy_covered`,
`<method>_wordsim_spearman`, `<method>_clustering_bias_before` and
`_after`, and the timings.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from kerasdl.harness.cli import experiment_parser, fail
from kerasdl.harness.curves import CurveLog
from kerasdl.harness.projector import write_projector
from kerasdl.harness.run import Run, start_run
from kerasdl.nn import debias
from kerasdl.nn.glove import GloVe, GloVeLoss, paper_optimizer
from kerasdl.nn.word2vec import SkipGram, word2vec_optimizer
from kerasdl.nn.word_vectors import WordVectors
from kerasdl.training.distribute import make_strategy
from kerasdl.training.io import atomic_path
from pipelines.datasets import shuffled_batches
from pipelines.sources import SourceCorruptError, SourceMissingError, data_home
from pipelines.text import split_passages
from pipelines.words import (
    DEFAULT_CORPUS,
    WordStream,
    WordVocabulary,
    cooccurrence_matrix,
    encode_stream,
    keep_probabilities,
    load_word_corpus,
    skipgram_dataset,
    tokenize_passages,
)

EXPERIMENT = "embeddings"
METHODS = ("sgns", "glove")
VECTOR_FILES = {"sgns": "skipgram.txt", "glove": "glove.txt"}  # in the run directory, word2vec text format
GENSIM_DATA = "gensim-4.3.3"  # the folder `make data` unpacks gensim's test files into
OCCUPATIONS = (
    "doctor", "nurse", "engineer", "programmer", "homemaker", "receptionist", "captain", "teacher",
    "scientist", "secretary", "surgeon", "dancer", "architect", "maid", "boss", "librarian",
)  # fmt: skip
# AdaGrad's rate per batch of --glove-batch-size entries for --glove-learning-rate. The paper's 0.05 is per
# entry and has no batched equivalent to take, so it is chosen by benchmarks/glove_learning_rate.py: the rate
# of the default profile whose vectors best match WordSim-353's human ratings (Spearman's rho), never the
# analogy set GloVe is reported on. Choose it again there when the profile changes.
DEFAULT_GLOVE_LEARNING_RATE = 0.5
# Flags a resumed run may change: what is looked at, not what is trained.
SAFE_TO_CHANGE = {"neighbours", "projector_words", "debias_words_per_side"}

DESCRIPTION = """\
Word embeddings (Course 5, Week 2) on an offline corpus (Debian's fortunes
and WordNet's glosses) or a tfds text: skip-gram with negative sampling
(negatives from the unigram distribution to the 3/4, never the positive
word) and GloVe (weighted least squares on log co-occurrence counts).
Evaluates analogies on the Google analogy set (the covered questions, per
section), WordSim-353 and nearest neighbours after every epoch, then
debiases the vectors (gender direction by PCA, neutralize, equalize) and
measures how much of the bias a clustering still finds. Exports the
vectors to TensorBoard's Projector. --resume continues where it stopped.
"""


def build_parser():
    parser = experiment_parser(EXPERIMENT, DESCRIPTION)
    data = parser.add_argument_group("data")
    data.add_argument(
        "--corpus",
        default=DEFAULT_CORPUS,
        help="'fortunes', 'wordnet', 'tfds:<name>' or several joined by '+' (Debian packages, offline)",
    )
    data.add_argument(
        "--download", action="store_true", help="allow tfds to download a tfds corpus (network)"
    )
    data.add_argument(
        "--limit", type=int, default=None, help="use only about this many passages, hash-chosen (quick runs)"
    )
    data.add_argument("--min-count", type=int, default=5, help="drop words seen fewer times than this")
    data.add_argument("--window", type=int, default=5, help="context words on each side of a word")
    model = parser.add_argument_group("models")
    model.add_argument(
        "--method", choices=(*METHODS, "both"), default="both", help="which embedding to train"
    )
    model.add_argument("--dim", type=int, default=50, help="the embedding dimension d of both methods")
    sgns = parser.add_argument_group("skip-gram with negative sampling")
    sgns.add_argument("--negatives", type=int, default=5, help="negative words per (target, context) pair")
    sgns.add_argument(
        "--sample", type=float, default=1e-3, help="subsampling threshold t of frequent words (0: none)"
    )
    sgns.add_argument("--epochs", type=int, default=2, help="epochs over the skip-gram pairs")
    sgns.add_argument("--batch-size", type=int, default=4096, help="pairs per batch")
    sgns.add_argument(
        "--learning-rate",
        type=float,
        default=0.025,
        help="word2vec's per-pair SGD rate at the start; it falls linearly over the run",
    )
    glove = parser.add_argument_group("GloVe")
    glove.add_argument("--glove-epochs", type=int, default=5, help="epochs over the nonzero co-occurrences")
    glove.add_argument("--glove-batch-size", type=int, default=32768, help="nonzero entries per batch")
    glove.add_argument(
        "--glove-learning-rate",
        type=float,
        default=DEFAULT_GLOVE_LEARNING_RATE,
        help="AdaGrad's learning rate per batch (the paper's 0.05 is per entry; a batch steps once for all); "
        "the default was chosen on WordSim-353 (benchmarks/glove_learning_rate.py)",
    )
    glove.add_argument("--x-max", type=float, default=100.0, help="f(x) = 1 from this count on")
    glove.add_argument("--alpha", type=float, default=0.75, help="f(x) = (x / x_max)^alpha below x_max")
    looks = parser.add_argument_group("evaluation")
    looks.add_argument(
        "--analogies", default=None, help="analogy file (default: gensim's questions-words.txt, `make data`)"
    )
    looks.add_argument(
        "--wordsim",
        default=None,
        help="word-pair ratings file (default: gensim's wordsim353.tsv, `make data`)",
    )
    looks.add_argument(
        "--neighbours",
        default="king,france,computer,love,dog,three,red,run",
        help="comma-separated words whose nearest neighbours the summary shows",
    )
    looks.add_argument(
        "--projector-words", type=int, default=5000, help="the most frequent words exported to the Projector"
    )
    looks.add_argument(
        "--debias-words-per-side",
        type=int,
        default=500,
        help="most male and most female words clustered for the lipstick-on-a-pig check",
    )
    return parser


def benchmark_file(given: str | None, name: str) -> Path:
    """The evaluation file `given`, or gensim's copy under data_home(); one error line when it is missing."""
    path = Path(given) if given else data_home() / GENSIM_DATA / name
    flag = "analogies" if name.startswith("questions") else "wordsim"
    if not path.is_file():
        fail(
            f"the evaluation file {path} is missing: run `make data` (it unpacks gensim 4.3.3's test files "
            f"into {data_home() / GENSIM_DATA}), or pass a file with --{flag}"
        )
    return path


def check_flags(args) -> list[str]:
    """Fails with one error line on a bad flag; returns the methods to train."""
    for flag in ("min_count", "window", "dim", "negatives", "epochs", "batch_size", "glove_epochs"):
        if getattr(args, flag) < 1:
            fail(f"--{flag.replace('_', '-')} must be at least 1; received {getattr(args, flag)}")
    for flag in ("glove_batch_size", "projector_words", "debias_words_per_side"):
        if getattr(args, flag) < 1:
            fail(f"--{flag.replace('_', '-')} must be at least 1; received {getattr(args, flag)}")
    for flag in ("learning_rate", "glove_learning_rate", "x_max", "alpha"):
        value = getattr(args, flag)
        if not (math.isfinite(value) and value > 0):
            fail(f"--{flag.replace('_', '-')} must be a positive number; received {value}")
    if not 0 <= args.sample < 1:
        fail(f"--sample must be in [0, 1); received {args.sample}")
    if args.limit is not None and args.limit < 1:
        fail(f"--limit must be at least 1 passage; received {args.limit}")
    return list(METHODS) if args.method == "both" else [args.method]


@dataclass(frozen=True)
class Corpus:
    """The tokenized corpus, its vocabulary and its id stream (out-of-vocabulary words removed)."""

    name: str
    passages: int
    tokens: int
    vocabulary: WordVocabulary
    stream: WordStream

    def report(self) -> str:
        return (
            f"corpus {self.name}: {self.passages:,} passages, {self.tokens:,} tokens; vocabulary "
            f"{self.vocabulary.size - 2:,} words (+ <PAD>, <UNK>), {len(self.stream):,} tokens in it"
        )


def prepare_corpus(args) -> Corpus:
    try:
        source = load_word_corpus(args.corpus, download=args.download)
    except (SourceMissingError, SourceCorruptError, ValueError) as error:
        fail(str(error))
    name = source.name
    if args.limit and args.limit < len(source):
        share = args.limit / len(source)
        source = split_passages(source, {"keep": share, "rest": 1 - share}, salt="limit")["keep"]
    token_lists = tokenize_passages(source.passages)
    vocabulary = WordVocabulary.from_token_lists(token_lists, min_count=args.min_count)
    if vocabulary.size < 4:
        fail(
            f"--min-count {args.min_count} leaves {vocabulary.size - 2} words; use a smaller one or more data"
        )
    stream = encode_stream(token_lists, vocabulary)
    return Corpus(name, len(source), sum(map(len, token_lists)), vocabulary, stream)


# -- training ------------------------------------------------------------------------------------------


class EmbeddingCurves(keras.callbacks.Callback):
    """After each epoch: loss, learning rate and throughput at `<method>/train`, analogies at `.../analogies`.

    Put it before the resume callbacks: an epoch's points are saved before its backup.
    """

    def __init__(self, curves: CurveLog, method: str, vocabulary, questions: Path, examples: int, scale=1.0):
        super().__init__()
        self.curves, self.method, self.vocabulary, self.questions = curves, method, vocabulary, questions
        self.examples, self.scale = examples, scale  # examples per epoch; loss logged = fit's loss * scale
        self._started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        step, seconds = epoch + 1, time.perf_counter() - self._started
        train = f"{self.method}/train"
        self.curves.log(train, "loss", step, float(logs["loss"]) * self.scale)
        rate = keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        self.curves.log(train, "learning_rate", step, float(rate))
        self.curves.log(train, "pairs_per_second", step, self.examples / seconds)
        report = word_vectors(self.model, self.vocabulary).evaluate_analogies(self.questions)
        for name, score in (
            ("accuracy", report.overall),
            ("semantic", report.semantic),
            ("syntactic", report.syntactic),
        ):
            if score.accuracy is not None:
                self.curves.log(f"{self.method}/analogies", name, step, score.accuracy)
        self.curves.save()


def word_vectors(model, vocabulary: WordVocabulary) -> WordVectors:
    """The trained vectors of the vocabulary's words (<PAD> and <UNK> left out), most frequent first."""
    return WordVectors(vocabulary.words[2:], model.word_vectors()[2:])


def train_sgns(args, run: Run, corpus: Corpus, questions: Path) -> SkipGram:
    keep = keep_probabilities(corpus.vocabulary.counts, args.sample)
    pairs = skipgram_dataset(corpus.stream, args.window, args.batch_size, keep=keep, seed=args.seed)
    steps = int(pairs.cardinality())
    with make_strategy(args.strategy, batch_size=args.batch_size).scope():
        vocabulary = corpus.vocabulary
        model = SkipGram(vocabulary.size, args.dim, vocabulary.counts, args.negatives, seed=args.seed)
        model.build()
        model.compile(optimizer=word2vec_optimizer(args.batch_size, steps * args.epochs, args.learning_rate))
    curves = EmbeddingCurves(run.curves, "sgns", corpus.vocabulary, questions, steps * args.batch_size)
    with run.phase("train/sgns"):
        model.fit(
            pairs,
            epochs=args.epochs,
            callbacks=[curves, *run.resume_callbacks(pairs, name="sgns")],
            shuffle=False,  # the dataset shuffles itself, seeded per epoch
            verbose=1 if sys.stdout.isatty() else 2,
        )
    return model


def train_glove(args, run: Run, corpus: Corpus, questions: Path) -> GloVe:
    counts = cooccurrence_matrix(corpus.stream, args.window, corpus.vocabulary.size)
    pairs = np.stack([counts.row, counts.col], axis=1).astype(np.int32)
    entries = shuffled_batches(pairs, counts.data.astype(np.float32), args.glove_batch_size, seed=args.seed)
    with make_strategy(args.strategy, batch_size=args.glove_batch_size).scope():
        model = GloVe(corpus.vocabulary.size, args.dim, seed=args.seed)
        model.build()
        loss = GloVeLoss(args.x_max, args.alpha)
        model.compile(optimizer=paper_optimizer(args.glove_learning_rate), loss=loss)
    steps = int(entries.cardinality())
    # fit's loss is the mean over batches of each batch's sum: per entry, it is that times steps / entries.
    curves = EmbeddingCurves(
        run.curves, "glove", corpus.vocabulary, questions, len(pairs), steps / len(pairs)
    )
    with run.phase("train/glove"):
        model.fit(
            entries,
            epochs=args.glove_epochs,
            callbacks=[curves, *run.resume_callbacks(entries, name="glove")],
            shuffle=False,  # the dataset shuffles itself, seeded per epoch
            verbose=1 if sys.stdout.isatty() else 2,
        )
    return model


# -- evaluation ----------------------------------------------------------------------------------------


def evaluate(vectors: WordVectors, questions: Path, wordsim: Path, neighbours: list[str]) -> dict:
    """Analogies per section, WordSim-353's rho and nearest neighbours, as JSON."""
    analogies = vectors.evaluate_analogies(questions)
    return {
        "analogies": analogies.as_dict(),
        "analogy_table": analogies.table(),
        "wordsim": vectors.similarity_correlation(wordsim).as_dict(),
        "neighbours": {
            word: [[other, round(similarity, 3)] for other, similarity in vectors.most_similar(word, 8)]
            for word in neighbours
            if word in vectors
        },
    }


def hard_debias_report(
    vectors: WordVectors, words_per_side: int, seed: int
) -> tuple[dict, WordVectors | None]:
    """(what hard debiasing did and what survives it, as JSON; the debiased vectors, None if skipped)."""
    unit = vectors.normalized()
    try:
        components, explained = debias.definitional_pca(unit)
    except ValueError as error:  # no definitional pair in the vocabulary
        return {"skipped": str(error)}, None
    g = components[0]
    debiased = debias.hard_debias(vectors)
    kept = set(debias.GENDER_SPECIFIC) | {w for pair in debias.EQUALIZE_PAIRS for w in pair}
    neutral = [i for i, word in enumerate(debiased.words) if word not in kept]
    occupations = [word for word in OCCUPATIONS if word in vectors]
    projection = {
        word: [float(unit.vector(word) @ g), float(debiased.vector(word) @ g)] for word in occupations
    }
    rankable = len([w for w in vectors.words if w not in debias.GENDER_SPECIFIC])
    per_side = min(words_per_side, rankable // 2)
    clustering = {}
    if per_side >= 2:
        for name, space in (("before", unit), ("after", debiased)):
            clustering[name] = debias.clustering_bias(
                unit, space, g, per_side, exclude=debias.GENDER_SPECIFIC, seed=seed
            ).as_dict()
    report = {
        "explained_variance_ratio": explained[:5].tolist(),
        "largest_neutral_projection_after": float(np.max(np.abs(debiased.matrix[neutral] @ g)))
        if neutral
        else None,
        "occupation_projections": projection,
        "clustering": clustering,
    }
    return report, debiased


def debias_and_export(args, run: Run, method: str, vectors: WordVectors, counts: np.ndarray) -> dict:
    """Hard debiasing and the Projector exports (the vectors, and the debiased ones); JSON for `run.once`."""
    report, debiased = hard_debias_report(vectors, args.debias_words_per_side, args.seed)
    top = min(args.projector_words, len(vectors))
    write_projector(
        run.dir / "projector",
        method,
        vectors.words[:top],
        vectors.matrix[:top],
        metadata={"count": counts[:top]},
    )
    if debiased is not None:
        write_projector(
            run.dir / "projector",
            f"{method}_debiased",
            debiased.words[:top],
            debiased.matrix[:top],
            metadata={"count": counts[:top]},
        )
    return report


def method_summary(method: str, evaluation: dict, debiasing: dict) -> list[str]:
    wordsim = evaluation["wordsim"]
    rho = "-" if wordsim["spearman_rho"] is None else f"{wordsim['spearman_rho']:.3f}"
    lines = [
        f"## {method}",
        "",
        "Analogies (Google analogy set; accuracy over the covered questions):",
        "",
        evaluation["analogy_table"],
        "",
        f"WordSim-353: Spearman's rho {rho} over {wordsim['covered']} of {wordsim['pairs']} pairs.",
        "",
        "| word | nearest neighbours (cosine) |",
        "|---|---|",
    ]
    lines += [
        f"| {word} | {', '.join(f'{other} ({s:.2f})' for other, s in others)} |"
        for word, others in evaluation["neighbours"].items()
    ]
    lines += ["", "Debiasing (gender direction g = first principal component of the definitional pairs):", ""]
    if "skipped" in debiasing:
        lines.append(f"skipped: {debiasing['skipped']}")
        return lines
    explained = ", ".join(f"{v:.2f}" for v in debiasing["explained_variance_ratio"])
    lines += [f"- variance of the definitional pairs explained by each component: {explained}"]
    largest = debiasing["largest_neutral_projection_after"]
    if largest is not None:
        lines.append(f"- largest |e . g| of a neutralized word after hard debiasing: {largest:.2e}")
    for name, result in debiasing["clustering"].items():
        lines.append(
            f"- k-means on the {result['words_per_side']} most biased words of each side, {name} debiasing, "
            f"agrees with their original side for {result['accuracy']:.3f} of them (0.5 = no bias left)"
        )
    if debiasing["occupation_projections"]:
        lines += ["", "| occupation | e . g before | after |", "|---|---:|---:|"]
        lines += [
            f"| {word} | {before:+.3f} | {after:+.3f} |"
            for word, (before, after) in debiasing["occupation_projections"].items()
        ]
    return lines


def save_vectors(run: Run, method: str, vectors: WordVectors) -> str:
    """Writes the vectors as `<run>/<file>` in the word2vec text format (atomically); the file's name.

    `python -m experiments.sentiment --embeddings <run>/skipgram.txt` starts from them.
    """
    path = run.dir / VECTOR_FILES[method]
    with atomic_path(path) as temporary:
        vectors.save_word2vec_text(temporary)
    return path.name


def method_metrics(run: Run, method: str, evaluation: dict, debiasing: dict) -> dict:
    """The flat results of one method: analogies, WordSim-353, the clustering check, training."""
    analogies, clustering = evaluation["analogies"], debiasing.get("clustering", {})
    seconds = run.phases.seconds(f"train/{method}")
    return {
        f"{method}_analogy_accuracy": analogies["overall"]["accuracy"],
        f"{method}_analogy_semantic": analogies["semantic"]["accuracy"],
        f"{method}_analogy_syntactic": analogies["syntactic"]["accuracy"],
        f"{method}_analogy_covered": analogies["overall"]["covered"],
        f"{method}_wordsim_spearman": evaluation["wordsim"]["spearman_rho"],
        f"{method}_clustering_bias_before": clustering.get("before", {}).get("accuracy"),
        f"{method}_clustering_bias_after": clustering.get("after", {}).get("accuracy"),
        f"{method}_train_seconds": seconds,
        f"{method}_final_loss": run.curves.values(f"{method}/train", "loss")[-1],
    }


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    methods = check_flags(args)
    questions = benchmark_file(args.analogies, "questions-words.txt")
    wordsim = benchmark_file(args.wordsim, "wordsim353.tsv")
    neighbours = [word.strip().lower() for word in args.neighbours.split(",") if word.strip()]
    corpus = prepare_corpus(args)
    run = start_run(EXPERIMENT, vars(args), safe_to_change=SAFE_TO_CHANGE)
    print(f"Run directory: {run.dir}\n{corpus.report()}", flush=True)
    run.save_json("vocabulary.json", corpus.vocabulary.to_config())
    trainers = {"sgns": train_sgns, "glove": train_glove}
    metrics, details, summary = {}, {}, [f"# Word embeddings, d = {args.dim}", "", corpus.report(), ""]
    for method in methods:
        model = trainers[method](args, run, corpus, questions)
        vectors = word_vectors(model, corpus.vocabulary)
        evaluation = run.once(f"evaluate/{method}", evaluate, vectors, questions, wordsim, neighbours)
        counts = corpus.vocabulary.counts[2:]
        debiasing = run.once(f"debias/{method}", debias_and_export, args, run, method, vectors, counts)
        run.once(f"save/{method}", save_vectors, run, method, vectors)
        metrics.update(method_metrics(run, method, evaluation, debiasing))
        details[method] = {"evaluation": evaluation, "debiasing": debiasing}
        summary += [*method_summary(method, evaluation, debiasing), ""]
    metrics["vocabulary_size"] = corpus.vocabulary.size
    metrics["tokens"] = corpus.tokens
    details["corpus"] = {"name": corpus.name, "passages": corpus.passages, "tokens": corpus.tokens}
    run.finish(metrics=metrics, details=details, summary="\n".join(summary), step=1, echo=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
