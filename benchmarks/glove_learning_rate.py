"""Choosing GloVe's batched AdaGrad learning rate on WordSim-353, never on the analogies it is reported on.

`experiments.embeddings` reports GloVe by its accuracy on the Google
analogy set, so that set must not choose any of GloVe's settings. The
learning rate of batched AdaGrad (`--glove-learning-rate`: one step per
batch of 32,768 nonzero co-occurrences, where the paper's 0.05 is one step
per entry) has no value to take from the paper, so it is chosen here on a
separate measure: Spearman's rho between the vectors' cosine similarities
and the human ratings of WordSim-353 (gensim's wordsim353.tsv, `make
data`). This script never opens the analogy file.

For each rate of `--rates` (and each seed of `--seeds`) it trains GloVe
exactly as the experiment's default profile does (same corpus, vocabulary,
window, dimension, epochs, batch size, x_max, alpha; the co-occurrence
counts are computed once), takes w + w~ and prints rho. The chosen rate is
the one with the highest mean rho; `experiments.embeddings` uses it as the
default of `--glove-learning-rate` (see `DEFAULT_GLOVE_LEARNING_RATE`
there). A run of `experiments.embeddings` then measures the analogies once,
with the chosen rate. Because WordSim-353 chose the rate, GloVe's WordSim
figure in that run is a selection figure, not a held-out one.

Run:
    python benchmarks/glove_learning_rate.py          # the default sweep: 6 trainings, ~6 CPU-minutes
    python benchmarks/glove_learning_rate.py --rates 0.2,0.5 --seeds 0,1 --limit 20000

Output: one `name: value` line per figure, `wordsim_spearman[rate=R,seed=S]`,
`mean_wordsim_spearman[rate=R]` and `chosen_learning_rate`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import keras
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from experiments import embeddings  # noqa: E402
from kerasdl.nn.glove import GloVe, GloVeLoss, paper_optimizer  # noqa: E402
from kerasdl.nn.word_vectors import WordVectors  # noqa: E402
from pipelines.datasets import shuffled_batches  # noqa: E402
from pipelines.words import cooccurrence_matrix  # noqa: E402

DEFAULT_RATES = "0.05,0.1,0.2,0.5,1,2"


def numbers(text: str, kind=float) -> list:
    try:
        values = [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers; received {text!r}")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=numbers, default=numbers(DEFAULT_RATES), help="rates to try")
    parser.add_argument(
        "--seeds", type=lambda text: numbers(text, int), default=[0], help="seeds per rate (comma-separated)"
    )
    parser.add_argument(
        "--experiment-flags",
        default="",
        help="flags of experiments.embeddings that set the profile (e.g. '--dim 100 --glove-epochs 25')",
    )
    parser.add_argument("--limit", type=int, default=None, help="about this many passages (quick runs)")
    return parser


def train_glove(args, corpus, counts, learning_rate: float, seed: int) -> WordVectors:
    """GloVe as `experiments.embeddings.train_glove` trains it (without its run), at `learning_rate`."""
    keras.utils.set_random_seed(seed)
    pairs = np.stack([counts.row, counts.col], axis=1).astype(np.int32)
    entries = shuffled_batches(pairs, counts.data.astype(np.float32), args.glove_batch_size, seed=seed)
    model = GloVe(corpus.vocabulary.size, args.dim, seed=seed)
    model.build()
    model.compile(optimizer=paper_optimizer(learning_rate), loss=GloVeLoss(args.x_max, args.alpha))
    model.fit(entries, epochs=args.glove_epochs, shuffle=False, verbose=0)
    return embeddings.word_vectors(model, corpus.vocabulary)


def figure(name: str, value) -> None:
    print(f"{name}: {value:.4f}" if isinstance(value, float) else f"{name}: {value}", flush=True)


def main(argv=None) -> int:
    options = build_parser().parse_args(argv)
    flags = options.experiment_flags.split()
    if options.limit:
        flags += ["--limit", str(options.limit)]
    args = embeddings.build_parser().parse_args(flags)
    embeddings.check_flags(args)
    wordsim = embeddings.benchmark_file(args.wordsim, "wordsim353.tsv")
    corpus = embeddings.prepare_corpus(args)
    counts = cooccurrence_matrix(corpus.stream, args.window, corpus.vocabulary.size)
    print(corpus.report(), flush=True)
    figure("nonzero_cooccurrences", int(counts.nnz))
    means = {}
    for rate in options.rates:
        scores = []
        for seed in options.seeds:
            wall, cpu = time.perf_counter(), time.process_time()
            vectors = train_glove(args, corpus, counts, rate, seed)
            report = vectors.similarity_correlation(wordsim)
            figure(f"wordsim_spearman[rate={rate:g},seed={seed}]", report.rho)
            figure(f"train_seconds[rate={rate:g},seed={seed}]", time.perf_counter() - wall)
            figure(f"train_cpu_seconds[rate={rate:g},seed={seed}]", time.process_time() - cpu)
            scores.append(report.rho)
        figure("wordsim_pairs_covered", report.covered)
        means[rate] = float(np.mean(scores))
        figure(f"mean_wordsim_spearman[rate={rate:g}]", means[rate])
    figure("chosen_learning_rate", f"{max(means, key=means.get):g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
