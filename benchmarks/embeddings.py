"""kerasdl's skip-gram against gensim's Word2Vec on the same tokens: analogy accuracy and training speed.

Both train skip-gram with negative sampling on one token stream
(`pipelines.words`: the default corpus, Debian's fortunes plus WordNet's
synsets and glosses, tokenized once and written to a file) with the same
dimension, window, negatives, min_count, subsampling threshold and epochs:

- kerasdl: `kerasdl.nn.word2vec.SkipGram` trained by `fit` on the batches
  of `pipelines.words.skipgram_dataset`, with `word2vec_optimizer` (SGD,
  word2vec's per-pair rate falling linearly), in this process;
- gensim 4.3.3: `Word2Vec(sg=1, ...)`, run by scripts/gensim_reference.py in
  its own venv (`make venv-gensim`: gensim pins numpy < 2, which kerasdl's
  TensorFlow cannot share), with `--workers` threads.

Both sets of vectors are judged by kerasdl's `WordVectors.evaluate_analogies`
on the Google analogy set (gensim's questions-words.txt, `make data`), over
the questions whose four words are in the vocabulary (the two
vocabularies are the same words, both cut at min_count). gensim's own
`evaluate_word_analogies` on its vectors is printed as a cross-check of
kerasdl's evaluator.

Goal: `analogy_accuracy_ratio` (kerasdl / gensim) >= 0.9.

Speed: `kerasdl_pairs_per_second` counts the (target, context) pairs
trained per second of wall time (each with `--negatives` sampled words);
gensim processes the same pairs in C threads without Python per pair.
Figures from a loaded, shared machine are noisy.

Run:
    make venv-gensim                          # once: .venv-gensim with gensim 4.3.3
    python benchmarks/embeddings.py           # gensim's defaults: d 100, window 5, 5 negatives, 5 epochs
    python benchmarks/embeddings.py --epochs 1 --dim 50 --limit 20000     # quicker

Output: one `name: value` line per figure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import keras

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from kerasdl.nn.word2vec import SkipGram, word2vec_optimizer  # noqa: E402
from kerasdl.nn.word_vectors import WordVectors  # noqa: E402
from pipelines.sources import data_home  # noqa: E402
from pipelines.text import split_passages  # noqa: E402
from pipelines.words import (  # noqa: E402
    WordVocabulary,
    encode_stream,
    keep_probabilities,
    load_word_corpus,
    skipgram_dataset,
    tokenize_passages,
)

GENSIM_PYTHON = ROOT / ".venv-gensim" / "bin" / "python"
GENSIM_SCRIPT = ROOT / "scripts" / "gensim_reference.py"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", default="fortunes+wordnet", help="a pipelines.words corpus")
    parser.add_argument("--limit", type=int, default=None, help="about this many passages, hash-chosen")
    parser.add_argument("--dim", type=int, default=100, help="vector size (gensim's default)")
    parser.add_argument("--window", type=int, default=5, help="largest window (both shrink it at random)")
    parser.add_argument("--negatives", type=int, default=5, help="negative words per pair")
    parser.add_argument("--min-count", type=int, default=5, help="words seen fewer times are dropped")
    parser.add_argument("--sample", type=float, default=1e-3, help="subsampling threshold")
    parser.add_argument("--epochs", type=int, default=5, help="epochs (gensim's default)")
    parser.add_argument("--batch-size", type=int, default=4096, help="kerasdl's pairs per batch")
    parser.add_argument(
        "--learning-rate", type=float, default=0.025, help="per-pair alpha at the start (both)"
    )
    parser.add_argument("--workers", type=int, default=2, help="gensim's training threads")
    parser.add_argument("--seed", type=int, default=1, help="seed of both")
    parser.add_argument("--gensim-python", default=str(GENSIM_PYTHON), help="python of the gensim venv")
    parser.add_argument("--questions", default=None, help="analogy file (default: gensim's, `make data`)")
    return parser


def figure(name: str, value) -> None:
    print(f"{name}: {value:.4f}" if isinstance(value, float) else f"{name}: {value}", flush=True)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    questions = (
        Path(args.questions) if args.questions else data_home() / "gensim-4.3.3" / "questions-words.txt"
    )
    if not questions.is_file():
        print(f"error: the analogy file {questions} is missing: run `make data`", file=sys.stderr)
        return 2
    if not Path(args.gensim_python).is_file():
        print(
            f"error: gensim's venv is missing ({args.gensim_python}): run `make venv-gensim` "
            "(gensim 4.3.3 needs numpy < 2, so it lives in a venv of its own)",
            file=sys.stderr,
        )
        return 2

    source = load_word_corpus(args.corpus)
    if args.limit and args.limit < len(source):
        share = args.limit / len(source)
        source = split_passages(source, {"keep": share, "rest": 1 - share}, salt="limit")["keep"]
    token_lists = [tokens for tokens in tokenize_passages(source.passages) if tokens]
    vocabulary = WordVocabulary.from_token_lists(token_lists, min_count=args.min_count)
    stream = encode_stream(token_lists, vocabulary)
    figure("tokens", sum(map(len, token_lists)))
    figure("vocabulary_words", vocabulary.size - 2)

    with tempfile.TemporaryDirectory() as folder:
        corpus_file, vectors_file = Path(folder) / "tokens.txt", Path(folder) / "gensim.txt"
        corpus_file.write_text("".join(" ".join(tokens) + "\n" for tokens in token_lists), encoding="utf-8")
        command = [args.gensim_python, str(GENSIM_SCRIPT), "--corpus", str(corpus_file)]
        command += ["--vectors", str(vectors_file), "--questions", str(questions), "--dim", str(args.dim)]
        command += ["--window", str(args.window), "--negatives", str(args.negatives)]
        command += ["--min-count", str(args.min_count), "--epochs", str(args.epochs)]
        command += ["--sample", str(args.sample), "--workers", str(args.workers), "--seed", str(args.seed)]
        gensim_run = subprocess.run(command, capture_output=True, text=True, check=False)
        if gensim_run.returncode != 0:
            print(f"error: gensim failed:\n{gensim_run.stderr[-3000:]}", file=sys.stderr)
            return 1
        gensim = json.loads(gensim_run.stdout.strip().splitlines()[-1])
        gensim_vectors = WordVectors.load_word2vec_text(vectors_file)

    keras.utils.set_random_seed(args.seed)
    keep = keep_probabilities(vocabulary.counts, args.sample)
    pairs = skipgram_dataset(stream, args.window, args.batch_size, keep=keep, seed=args.seed)
    steps = int(pairs.cardinality())
    model = SkipGram(vocabulary.size, args.dim, vocabulary.counts, args.negatives, seed=args.seed)
    model.compile(optimizer=word2vec_optimizer(args.batch_size, steps * args.epochs, args.learning_rate))
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(pairs, epochs=args.epochs, shuffle=False, verbose=0)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    ours = WordVectors(vocabulary.words[2:], model.word_vectors()[2:])

    ours_report, gensim_report = (
        ours.evaluate_analogies(questions),
        gensim_vectors.evaluate_analogies(questions),
    )
    figure("covered_questions", ours_report.overall.covered)
    figure("gensim_covered_questions", gensim_report.overall.covered)
    figure("kerasdl_analogy_accuracy", ours_report.overall.accuracy)
    figure("gensim_analogy_accuracy", gensim_report.overall.accuracy)
    figure("gensim_own_evaluator_accuracy", gensim["analogy_accuracy"])
    figure("analogy_accuracy_ratio", ours_report.overall.accuracy / gensim_report.overall.accuracy)
    figure("kerasdl_semantic_accuracy", ours_report.semantic.accuracy)
    figure("gensim_semantic_accuracy", gensim_report.semantic.accuracy)
    figure("kerasdl_syntactic_accuracy", ours_report.syntactic.accuracy)
    figure("gensim_syntactic_accuracy", gensim_report.syntactic.accuracy)
    figure("kerasdl_train_seconds", wall)
    figure("kerasdl_train_cpu_seconds", cpu)
    figure("gensim_train_seconds", gensim["train_seconds"])
    figure("train_time_ratio", wall / gensim["train_seconds"])
    figure("kerasdl_pairs_per_second", steps * args.batch_size * args.epochs / wall)
    return 0


if __name__ == "__main__":
    sys.exit(main())
