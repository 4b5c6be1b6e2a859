"""gensim's skip-gram Word2Vec on a token file: the reference that benchmarks/embeddings.py compares with.

Runs in its own venv (`make venv-gensim`: gensim 4.3.3 pins numpy < 2,
which kerasdl's TensorFlow cannot share), so it imports nothing of kerasdl.
It reads one passage per line, tokens separated by single spaces (what
benchmarks/embeddings.py writes from `pipelines.words.tokenize`), trains
`gensim.models.Word2Vec(sg=1, ...)` with the flags given, writes the
vectors in the word2vec text format, evaluates them with gensim's own
`evaluate_word_analogies` when a question file is given, and prints one
JSON object on stdout.

    .venv-gensim/bin/python scripts/gensim_reference.py --corpus tokens.txt --vectors out.txt \\
        --dim 100 --window 5 --negatives 5 --min-count 5 --epochs 5 --sample 1e-3 \\
        --questions ~/.cache/kerasdl/gensim-4.3.3/questions-words.txt
"""

from __future__ import annotations

import argparse
import json
import sys
import time


def read_passages(path: str) -> list[list[str]]:
    with open(path, encoding="utf-8") as lines:
        return [line.split(" ") for line in (line.rstrip("\n") for line in lines) if line]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", required=True, help="one passage per line, tokens separated by spaces")
    parser.add_argument("--vectors", required=True, help="where to write the vectors (word2vec text format)")
    parser.add_argument("--questions", default=None, help="an analogy file for evaluate_word_analogies")
    parser.add_argument("--dim", type=int, default=100, help="vector_size")
    parser.add_argument(
        "--window", type=int, default=5, help="the largest window (gensim shrinks it at random)"
    )
    parser.add_argument("--negatives", type=int, default=5, help="negative")
    parser.add_argument("--min-count", type=int, default=5, help="min_count")
    parser.add_argument("--epochs", type=int, default=5, help="epochs")
    parser.add_argument("--sample", type=float, default=1e-3, help="the subsampling threshold t")
    parser.add_argument("--workers", type=int, default=2, help="training threads")
    parser.add_argument("--seed", type=int, default=1, help="seed")
    args = parser.parse_args(argv)

    import gensim
    from gensim.models import Word2Vec

    passages = read_passages(args.corpus)
    start = time.perf_counter()
    model = Word2Vec(
        passages,
        sg=1,
        vector_size=args.dim,
        window=args.window,
        negative=args.negatives,
        ns_exponent=0.75,
        hs=0,
        min_count=args.min_count,
        sample=args.sample,
        epochs=args.epochs,
        workers=args.workers,
        seed=args.seed,
    )
    train_seconds = time.perf_counter() - start
    model.wv.save_word2vec_format(args.vectors, binary=False)
    result = {
        "gensim_version": gensim.__version__,
        "train_seconds": train_seconds,
        "vocabulary_size": len(model.wv),
        "tokens": sum(len(p) for p in passages),
        "vectors": args.vectors,
    }
    if args.questions:
        score, sections = model.wv.evaluate_word_analogies(args.questions, restrict_vocab=len(model.wv))
        result["analogy_accuracy"] = score
        result["analogy_sections"] = {
            s["section"]: {"correct": len(s["correct"]), "incorrect": len(s["incorrect"])} for s in sections
        }
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
