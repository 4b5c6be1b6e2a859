"""Sentiment classification: averaged word embeddings against an LSTM, on sentences rated by people.

Course 5, Week 2, "Sentiment classification" (the Emojify assignment):
from a sentence x predict its sentiment y with two models.

(a) `average`: the embedding e of each word, averaged, then a softmax,
    the lesson's "Avg -> softmax -> y". Padding is masked, so the average
    is over the sentence's own words (keras' GlobalAveragePooling1D with
    the embedding's mask). It ignores word order: "not good, bad" and "not
    bad, good" get the same prediction.
(b) `lstm`: the embeddings through LSTM -> dropout -> LSTM -> dropout ->
    softmax, Emojify's second model; the LSTMs are kerasdl's lesson cell
    (`kerasdl.nn.cells.LSTMCell`) in `keras.layers.RNN`, masked
    (`Embedding(mask_zero=True)`), so padding never changes a prediction.

The data, offline: Hutto and Gilbert's VADER ground truth (ICWSM 2014,
shipped in vaderSentiment 3.3.2's source archive, unpacked by `make
data`): 23,703 sentences from movie reviews (Pang and Lee), Amazon
reviews, New York Times editorials and tweet-like texts, each rated by at
least 20 people from -4 to +4. A sentence whose mean rating is at least
`--margin` (0.5) is positive, at most -0.5 negative, and the 4,244 in
between are neutral and left out (`--neutral class` keeps them as a third
class): 19,459 sentences, 10,278 positive and 9,181 negative, split
80/10/10 into train / dev / test by a hash of the text (15,568 / 1,911 /
1,980). `pipelines.sentiment` says more; `--source vader:movies` takes
one part, `--source tfds:imdb_reviews --download` IMDB's 50,000 reviews
online. Words are `pipelines.words.tokenize` tokens; the vocabulary is the
training split's words seen at least `--min-count` times (others are
<UNK>), and a sentence is cut at `--max-length` words.

The embeddings are learned from scratch by default. `--embeddings PATH`
starts from a word2vec text file instead (what `python -m
experiments.embeddings` saves, `WordVectors.save_word2vec_text`): the
vocabulary is then the file's words, as Emojify's is GloVe's, so a word
the training split never had still has a meaning; they stay frozen unless
`--fine-tune` (the lesson's transfer learning: with little labelled data,
keep them fixed).

At the end the test split is evaluated once, beside the majority-class
baseline (the training split's most frequent class); the dev sentences
with a negation ("not", "no", "never", "n't", ...) are scored separately,
and a few that the average gets wrong and the LSTM right are shown.

Run:
    python -m experiments.sentiment                       # both models, default profile
    python -m experiments.sentiment --models average      # one model
    python -m experiments.sentiment --embeddings logs/embeddings/RUN/skipgram.txt            # frozen
    python -m experiments.sentiment --embeddings logs/embeddings/RUN/skipgram.txt --fine-tune
    python -m experiments.sentiment --neutral class       # three classes
    python -m experiments.sentiment --source tfds:imdb_reviews --download --max-length 200
    tensorboard --logdir logs/sentiment

In TensorBoard: Scalars "error" (1 - accuracy) and "loss" overlay the runs
`<model>/train` (a fixed sample of training sentences) and `<model>/dev`
per epoch, and `<model>/test` (one point at the end); `<model>/gaps` has
"gap" (dev minus train error). Text "summary" holds the final table (dev
and test accuracy, the majority baseline) and the negation examples.
`results.json` has the metrics `<model>/dev_accuracy`,
`<model>/test_accuracy`, `<model>/negation_dev_accuracy`,
`majority/dev_accuracy` and `majority/test_accuracy`.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import keras
import numpy as np

from kerasdl.harness.cli import experiment_parser, fail, parse_subset
from kerasdl.harness.curves import EpochCurves, epoch_history
from kerasdl.harness.run import Run, start_run
from kerasdl.harness.variants import train_variants
from kerasdl.nn.cells import LSTMCell
from kerasdl.nn.word_vectors import WordVectors
from kerasdl.training.distribute import make_strategy
from pipelines.sentiment import (
    DEFAULT_MARGIN,
    NEUTRAL_RULES,
    SentimentSource,
    load_sentiment_source,
    sentence_batches,
    split_sentiment,
    token_matrix,
)
from pipelines.sources import SourceCorruptError, SourceMissingError
from pipelines.splits import hash_assign
from pipelines.words import PAD_TOKEN, UNK, UNK_TOKEN, WordVocabulary, tokenize

EXPERIMENT = "sentiment"
MODELS = ("average", "lstm")
EVAL_BATCH = 512  # sentences per evaluation batch
DEFAULT_EMBEDDING_SIZE = 50  # Emojify's GloVe vectors have 50 dimensions
# Words that negate what follows; a token ending in "n't" ("isn't", "don't") counts too.
NEGATIONS = frozenset("not no never nothing nobody none neither nor nowhere without hardly cannot".split())
# Flags a resumed run may change: a longer training, or more examples shown.
SAFE_TO_CHANGE = {"epochs", "examples"}

DESCRIPTION = """\
Sentiment classification (Course 5, Week 2, the Emojify assignment):
averaged word embeddings -> softmax against embeddings -> LSTM -> dropout
-> LSTM -> softmax, on human-rated sentences (VADER's ground truth:
movie and product reviews, editorials and tweets, offline) or tfds'
imdb_reviews (online). Embeddings are learned from scratch or read from a
word2vec text file (--embeddings), frozen or fine-tuned. Logs dev error per
epoch, test accuracy once at the end beside the majority-class baseline,
and dev sentences with a negation that the average gets wrong and the LSTM
right. --resume continues an interrupted run where it stopped.
"""


def build_parser():
    parser = experiment_parser(EXPERIMENT, DESCRIPTION)
    data = parser.add_argument_group("data")
    data.add_argument(
        "--source",
        default="vader",
        help="'vader' (all four parts), 'vader:<part>' with parts movies, amazon, nyt, tweets joined by '+', "
        "or 'tfds:<name>' (e.g. tfds:imdb_reviews, with --download once)",
    )
    data.add_argument(
        "--data-dir", default=None, help="folder of VADER's *_GroundTruth.txt files, or tfds' data_dir"
    )
    data.add_argument("--download", action="store_true", help="allow tfds to download the dataset (network)")
    data.add_argument(
        "--margin",
        type=float,
        default=DEFAULT_MARGIN,
        help="VADER: a mean rating at least this far from 0 (scale points) is positive or negative",
    )
    data.add_argument(
        "--neutral",
        choices=NEUTRAL_RULES,
        default="drop",
        help="VADER: what the sentences within the margin become: left out, or a third class",
    )
    data.add_argument(
        "--limit", type=int, default=None, help="use only about this many sentences, hash-chosen"
    )
    data.add_argument("--max-length", type=int, default=50, help="words kept of each sentence (T_x)")
    data.add_argument(
        "--min-count",
        type=int,
        default=2,
        help="words seen fewer times in train are <UNK> (without --embeddings)",
    )
    data.add_argument(
        "--max-vocabulary",
        type=int,
        default=20_000,
        help="most ids, <PAD> and <UNK> included (without --embeddings)",
    )
    model = parser.add_argument_group("models")
    model.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {MODELS}")
    model.add_argument(
        "--embedding-size",
        type=int,
        default=None,
        help=f"dimension of the embeddings learned from scratch ({DEFAULT_EMBEDDING_SIZE} unless "
        "--embeddings gives the file's)",
    )
    model.add_argument(
        "--embeddings",
        default=None,
        help="a word2vec text file of pretrained embeddings; its words become the vocabulary",
    )
    model.add_argument("--fine-tune", action="store_true", help="with --embeddings: train them too")
    model.add_argument("--units", type=int, default=64, help="n_a, the hidden state size of each LSTM")
    model.add_argument("--dropout", type=float, default=0.5, help="dropout rate after each LSTM")
    train = parser.add_argument_group("training")
    train.add_argument("--epochs", type=int, default=3, help="epochs per model")
    train.add_argument("--batch-size", type=int, default=64, help="sentences per batch")
    train.add_argument("--learning-rate", type=float, default=0.001, help="Adam's learning rate alpha")
    train.add_argument(
        "--train-eval-size",
        type=int,
        default=2_000,
        help="the training error of each epoch is measured on this many training sentences",
    )
    train.add_argument("--examples", type=int, default=5, help="negation examples shown in the summary")
    return parser


def check_flags(args) -> list[str]:
    """Fails with one error line on a bad flag; returns the models to train."""
    models = parse_subset("--models", args.models, MODELS)
    for flag in ("max_length", "min_count", "units", "epochs", "batch_size", "train_eval_size"):
        if getattr(args, flag) < 1:
            fail(f"--{flag.replace('_', '-')} must be at least 1; received {getattr(args, flag)}")
    if args.max_vocabulary < 3:
        fail(f"--max-vocabulary must be at least 3 (<PAD>, <UNK> and a word); received {args.max_vocabulary}")
    if args.examples < 0:
        fail(f"--examples must be at least 0; received {args.examples}")
    if args.embedding_size is not None and args.embedding_size < 1:
        fail(f"--embedding-size must be at least 1; received {args.embedding_size}")
    if args.limit is not None and args.limit < 10:
        fail(f"--limit must be at least 10 sentences (some for each split); received {args.limit}")
    if not (math.isfinite(args.margin) and args.margin >= 0):
        fail(f"--margin must be a number >= 0; received {args.margin}")
    if not 0 <= args.dropout < 1:
        fail(f"--dropout must be in [0, 1); received {args.dropout}")
    if not (math.isfinite(args.learning_rate) and args.learning_rate > 0):
        fail(f"--learning-rate must be a positive number; received {args.learning_rate}")
    if args.fine_tune and args.embeddings is None:
        fail("--fine-tune trains pretrained embeddings: give them with --embeddings PATH")
    return models


# -- data ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SentimentData:
    """The splits, their tokens and id matrices, the vocabulary and (with --embeddings) its vectors."""

    splits: dict[str, SentimentSource]
    tokens: dict[str, list[list[str]]]
    ids: dict[str, np.ndarray]
    vocabulary: WordVocabulary
    pretrained: np.ndarray | None  # [vocabulary.size, D] with --embeddings

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.splits["train"].class_names

    def coverage(self) -> float:
        """Share of the training split's word tokens that are in the vocabulary (not <UNK>)."""
        known = sum(
            int(np.sum(row[: len(tokens)] > UNK))
            for row, tokens in zip(self.ids["train"], self.tokens["train"], strict=True)
        )
        total = sum(min(len(tokens), self.ids["train"].shape[1]) for tokens in self.tokens["train"])
        return known / max(total, 1)

    def report(self) -> str:
        lines = [
            f"{name}: {len(part):,} sentences "
            + ", ".join(f"{count:,} {label}" for label, count in part.class_counts().items())
            for name, part in self.splits.items()
        ]
        origin = (
            "the embeddings file's words" if self.pretrained is not None else "the training split's words"
        )
        lines.append(
            f"vocabulary: {self.vocabulary.size:,} ids ({origin}); {self.coverage():.1%} of the training "
            "split's words are in it"
        )
        return "\n".join(lines)


def limited(source: SentimentSource, limit: int | None) -> SentimentSource:
    """About `limit` sentences of `source`, chosen by a hash of their text (all of them without a limit)."""
    if not limit or limit >= len(source):
        return source
    share = limit / len(source)
    keep = hash_assign(np.array(source.texts, dtype=object), {"keep": share, "rest": 1 - share}, "limit")
    return source.take(keep == "keep")


def pretrained_vocabulary(vectors: WordVectors, train_tokens) -> tuple[WordVocabulary, np.ndarray]:
    """The file's words as a vocabulary (<PAD>, <UNK> first) and its matrix; counts are the training split's.

    <PAD> gets a zero vector (it is masked); <UNK> the file's "<UNK>" vector when it has one, else zeros.
    """
    words = [word for word in vectors.words if word not in (PAD_TOKEN, UNK_TOKEN)]
    counts: dict[str, int] = {}
    for tokens in train_tokens:
        for token in tokens:
            counts[token] = counts.get(token, 0) + 1
    vocabulary = WordVocabulary(
        (PAD_TOKEN, UNK_TOKEN, *words), np.array([0, 0] + [counts.get(w, 0) for w in words])
    )
    matrix = np.zeros((vocabulary.size, vectors.dimension), np.float32)
    if UNK_TOKEN in vectors:
        matrix[UNK] = vectors.vector(UNK_TOKEN)
    matrix[2:] = vectors.matrix[[vectors.index[w] for w in words]]
    return vocabulary, matrix


def prepare_data(args) -> SentimentData:
    """Loads, labels, limits and splits the sentences, builds the vocabulary and the id matrices.

    Fails with one error line when the source or the embeddings file is missing or bad.
    """
    try:
        source = load_sentiment_source(args.source, args.data_dir, args.download, args.margin, args.neutral)
    except (SourceMissingError, SourceCorruptError, ValueError) as error:
        fail(str(error))
    splits = split_sentiment(limited(source, args.limit))
    if not all(len(part) for part in splits.values()):
        fail(f"--limit {args.limit} leaves a split without sentences; use a larger --limit")
    tokens = {name: [tokenize(text) for text in part.texts] for name, part in splits.items()}
    pretrained = None
    if args.embeddings is not None:
        try:
            vectors = WordVectors.load_word2vec_text(args.embeddings)
        except (OSError, ValueError) as error:
            fail(f"--embeddings {args.embeddings}: {error}")
        if args.embedding_size is not None and args.embedding_size != vectors.dimension:
            fail(
                f"--embedding-size {args.embedding_size} differs from the {vectors.dimension} dimensions "
                f"of --embeddings {args.embeddings}; leave --embedding-size out"
            )
        vocabulary, pretrained = pretrained_vocabulary(vectors, tokens["train"])
    else:
        vocabulary = WordVocabulary.from_token_lists(tokens["train"], args.min_count, args.max_vocabulary)
    ids = {
        name: token_matrix(token_lists, vocabulary, args.max_length) for name, token_lists in tokens.items()
    }
    return SentimentData(splits, tokens, ids, vocabulary, pretrained)


# -- models ----------------------------------------------------------------------------------------------


def build_model(name: str, args, data: SentimentData) -> keras.Model:
    """`average` (masked mean of the embeddings -> softmax) or `lstm` (Emojify's two LSTMs), compiled."""
    classes = len(data.class_names)
    pretrained = data.pretrained
    size = pretrained.shape[1] if pretrained is not None else args.embedding_size or DEFAULT_EMBEDDING_SIZE
    inputs = keras.Input((None,), dtype="int32", name="words")
    embedding = keras.layers.Embedding(
        data.vocabulary.size,
        size,
        mask_zero=True,  # <PAD> = 0: masked in the average and skipped by the LSTMs
        trainable=pretrained is None or args.fine_tune,
        name="embedding",
    )
    x = embedding(inputs)
    if name == "average":
        x = keras.layers.GlobalAveragePooling1D(name="average")(x)  # the mean over the unmasked words
    else:
        x = keras.layers.RNN(LSTMCell(args.units), return_sequences=True, name="lstm_1")(x)
        x = keras.layers.Dropout(args.dropout, name="dropout_1")(x)
        x = keras.layers.RNN(LSTMCell(args.units), name="lstm_2")(x)  # the last real step's a<t>
        x = keras.layers.Dropout(args.dropout, name="dropout_2")(x)
    softmax = keras.layers.Dense(
        classes, activation="softmax", dtype="float32", name="softmax"
    )  # also when mixed
    outputs = softmax(x)
    model = keras.Model(inputs, outputs, name=name)
    if pretrained is not None:
        embedding.set_weights([pretrained])
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def predict_probabilities(model: keras.Model, ids: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The model's probabilities for every row of `ids`; full-width batches, so `predict` is traced once."""
    batches = sentence_batches(ids, labels, EVAL_BATCH, length_multiple=ids.shape[1])
    return model.predict(batches.map(lambda x, _: x), verbose=0)


def train_model(name: str, args, run: Run, data: SentimentData) -> dict:
    """Trains one model with its curves and backup; evaluates the test split once; predicts dev.

    The run phase `variant/<name>` (`train_variants`): on --resume a finished
    model returns this result without training.
    """
    keras.utils.set_random_seed(args.seed)  # every model starts from the same seed
    with make_strategy(args.strategy).scope():
        model = build_model(name, args, data)
    labels = {split: part.labels for split, part in data.splits.items()}
    train = sentence_batches(
        data.ids["train"], labels["train"], args.batch_size, shuffle=True, seed=args.seed
    )
    sample = np.sort(
        np.random.default_rng(args.seed).permutation(len(labels["train"]))[: args.train_eval_size]
    )
    evaluate = {
        "train": sentence_batches(data.ids["train"][sample], labels["train"][sample], EVAL_BATCH),
        "dev": sentence_batches(data.ids["dev"], labels["dev"], EVAL_BATCH),
    }
    curves = EpochCurves(run.curves, evaluate, prefix=name)
    model.fit(
        train,
        epochs=args.epochs,
        callbacks=[curves, *run.resume_callbacks(train, name=name)],  # backups last
        shuffle=False,  # the dataset draws a new order every epoch
        verbose=1 if sys.stdout.isatty() else 2,
    )
    test = model.evaluate(
        sentence_batches(data.ids["test"], labels["test"], EVAL_BATCH), verbose=0, return_dict=True
    )
    run.curves.log(f"{name}/test", "loss", args.epochs, float(test["loss"]))
    run.curves.log(f"{name}/test", "error", args.epochs, 1 - float(test["accuracy"]))
    run.curves.save()
    dev_probabilities = predict_probabilities(model, data.ids["dev"], labels["dev"])
    return {
        "test_accuracy": float(test["accuracy"]),
        "test_loss": float(test["loss"]),
        "parameters": int(model.count_params()),
        "dev_predictions": np.argmax(dev_probabilities, axis=1).tolist(),
    }


# -- what the models show ----------------------------------------------------------------------------------


def has_negation(tokens: list[str]) -> bool:
    """The sentence holds a negation word, or a token ending in "n't"."""
    return any(token in NEGATIONS or token.endswith("n't") for token in tokens)


def majority_baseline(data: SentimentData) -> dict:
    """Accuracy of always predicting the training split's most frequent class."""
    majority = int(np.argmax(np.bincount(data.splits["train"].labels, minlength=len(data.class_names))))
    return {
        "class": data.class_names[majority],
        **{
            f"{split}_accuracy": float(np.mean(data.splits[split].labels == majority))
            for split in ("dev", "test")
        },
    }


def negation_analysis(data: SentimentData, results: dict, count: int) -> dict:
    """Each model's dev accuracy on sentences with a negation; examples the average misses, the LSTM not."""
    dev = data.splits["dev"]
    negated = np.array([has_negation(tokens) for tokens in data.tokens["dev"]])
    predictions = {name: np.array(result["dev_predictions"]) for name, result in results.items()}
    analysis: dict = {
        "sentences": int(negated.sum()),
        "accuracy": {
            name: float(np.mean(p[negated] == dev.labels[negated])) if negated.any() else None
            for name, p in predictions.items()
        },
        "examples": [],
    }
    if {"average", "lstm"} <= set(predictions):
        chosen = np.flatnonzero(
            negated & (predictions["average"] != dev.labels) & (predictions["lstm"] == dev.labels)
        )
        analysis["average_wrong_lstm_right"] = len(chosen)
        analysis["average_right_lstm_wrong"] = int(
            np.sum(negated & (predictions["average"] == dev.labels) & (predictions["lstm"] != dev.labels))
        )
        for i in chosen[:count]:
            analysis["examples"].append(
                {
                    "text": dev.texts[i],
                    "rating": None if np.isnan(dev.ratings[i]) else float(dev.ratings[i]),
                    "label": data.class_names[dev.labels[i]],
                    "average": data.class_names[predictions["average"][i]],
                    "lstm": data.class_names[predictions["lstm"][i]],
                }
            )
    return analysis


def summary_text(
    args, data: SentimentData, results: dict, histories: dict, baseline: dict, negation: dict, seconds: dict
) -> str:
    embeddings = (
        f"pretrained from {args.embeddings}, {'fine-tuned' if args.fine_tune else 'frozen'}"
        if args.embeddings
        else "learned from scratch"
    )
    lines = [
        f"# Sentiment classification on {args.source}: {', '.join(results)}; embeddings {embeddings}",
        "",
        *(f"- {line}" for line in data.report().split("\n")),
        "",
        "| model | dev accuracy | test accuracy | dev accuracy with a negation | parameters | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, result in results.items():
        dev_accuracy = 1 - histories[name]["dev"]["error"][-1]
        negated = "-" if negation["accuracy"][name] is None else f"{negation['accuracy'][name]:.3f}"
        lines.append(
            f"| {name} | {dev_accuracy:.3f} | {result['test_accuracy']:.3f} | {negated} | "
            f"{result['parameters']:,} | {seconds[name]:.0f} |"
        )
    lines.append(
        f"| majority class ({baseline['class']}) | {baseline['dev_accuracy']:.3f} | "
        f"{baseline['test_accuracy']:.3f} | | | |"
    )
    lines += ["", f"{negation['sentences']:,} dev sentences hold a negation."]
    if "average_wrong_lstm_right" in negation:
        lines.append(
            f"Among them the average is wrong and the LSTM right on {negation['average_wrong_lstm_right']}, "
            f"the other way round on {negation['average_right_lstm_wrong']}."
            + (" Averaging ignores word order; some that the average missed:" if negation["examples"] else "")
        )
        for example in negation["examples"]:
            rating = "" if example["rating"] is None else f", mean rating {example['rating']:+.2f}"
            lines += [
                "",
                f"> {example['text']}",
                "",
                f"{example['label']}{rating}; average: {example['average']}, lstm: {example['lstm']}",
            ]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    models = check_flags(args)
    data = prepare_data(args)
    run = start_run(EXPERIMENT, vars(args), safe_to_change=SAFE_TO_CHANGE)
    print(f"Run directory: {run.dir}\n{data.report()}", flush=True)
    run.save_json(
        "data.json", {"vocabulary": data.vocabulary.to_config(), "class_names": list(data.class_names)}
    )
    results = train_variants(run, models, lambda name: train_model(name, args, run, data))
    histories = {name: epoch_history(run.curves, ("train", "dev"), prefix=name) for name in models}
    baseline = majority_baseline(data)
    negation = negation_analysis(data, results, args.examples)
    seconds = {name: run.phases.seconds(f"variant/{name}") or 0.0 for name in models}
    summary = summary_text(args, data, results, histories, baseline, negation, seconds)
    metrics = {
        "majority/dev_accuracy": baseline["dev_accuracy"],
        "majority/test_accuracy": baseline["test_accuracy"],
    }
    for name, result in results.items():
        metrics[f"{name}/dev_accuracy"] = 1 - histories[name]["dev"]["error"][-1]
        metrics[f"{name}/test_accuracy"] = result["test_accuracy"]
        metrics[f"{name}/negation_dev_accuracy"] = negation["accuracy"][name]
        metrics[f"{name}/seconds"] = seconds[name]
    metrics["vocabulary_size"] = data.vocabulary.size
    metrics["train_word_coverage"] = data.coverage()
    run.finish(
        metrics=metrics,
        details={
            "sentences": {name: part.class_counts() for name, part in data.splits.items()},
            "majority": baseline,
            "negation": negation,
            "models": {
                name: {k: v for k, v in r.items() if not k.startswith("dev_")} for name, r in results.items()
            },
        },
        summary=summary,
        step=args.epochs,
        echo=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
