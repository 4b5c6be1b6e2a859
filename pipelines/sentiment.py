"""Labelled sentences for sentiment classification: VADER's human-rated texts offline, tfds' IMDB online.

Course 5, Week 2 ("Sentiment classification"): from a text x ("The
dessert is excellent") predict its sentiment y. The labelled set kerasdl
can provide offline is Hutto and Gilbert's VADER ground truth (ICWSM 2014;
the source archive of vaderSentiment 3.3.2 on PyPI ships it, and
`make data` unpacks it into `pipelines.sources.data_home() / "vader-3.3.2"`).
Every line is "id<TAB>mean rating<TAB>text", the rating the mean of at
least 20 screened human raters on a scale from -4 (extremely negative)
through 0 (neutral) to +4 (extremely positive):

| part   | file                                   | texts  | what                                     |
|--------|----------------------------------------|-------:|------------------------------------------|
| movies | movieReviewSnippets_GroundTruth.txt    | 10,605 | review sentences (Pang and Lee 2004)     |
| amazon | amazonReviewSnippets_GroundTruth.txt   |  3,708 | product-review sentences                 |
| nyt    | nytEditorialSnippets_GroundTruth.txt   |  5,190 | New York Times editorial sentences       |
| tweets | tweets_GroundTruth.txt                 |  4,200 | tweet-like texts                         |

The labels are a rule on the mean rating r (`sentiment_labels`): negative
(0) when r <= -margin, positive (1) when r >= +margin; the texts in
between are neutral, raters who on average did not lean either way by
`margin` scale points. By default (margin 0.5, half a point) they are
dropped, which leaves a two-class task like Pang and Lee's sentence
polarity: of the 23,703 texts, 10,278 positive, 9,181 negative and 4,244
neutral (movies 4,996 / 5,076 / 533; amazon 1,750 / 1,235 / 723; nyt
1,187 / 1,783 / 2,220; tweets 2,345 / 1,087 / 768). `neutral="class"`
keeps them as a third class (0 negative, 1 neutral, 2 positive).

Online, `tfds:imdb_reviews` (Maas et al. 2011: 50,000 movie reviews with
the label their star rating gives, with `download=True`) or any tfds
dataset with a text and a class label.

Every source is split into train / dev / test by a hash of each text
(`pipelines.splits.hash_assign`), so a text that occurs twice is in one
split only and the splits are the same on every machine; tfds' own
train/test split is not used. `token_matrix` turns token lists into a
right-padded int32 matrix (PAD = 0, from `pipelines.words`), and
`sentence_batches` into tf.data batches cut to the longest sentence of
each batch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from pipelines.datasets import AUTOTUNE, host_tensors, index_batches
from pipelines.sources import SourceCorruptError, SourceMissingError, data_home, prepared_tfds_builder
from pipelines.splits import hash_assign
from pipelines.words import PAD, UNK, WordVocabulary

VADER_DIR = "vader-3.3.2"  # under pipelines.sources.data_home()
VADER_FILES = {
    "movies": "movieReviewSnippets_GroundTruth.txt",
    "amazon": "amazonReviewSnippets_GroundTruth.txt",
    "nyt": "nytEditorialSnippets_GroundTruth.txt",
    "tweets": "tweets_GroundTruth.txt",
}
DEFAULT_MARGIN = 0.5  # scale points on -4..+4: |mean rating| below it is neutral
SENTIMENT_SPLITS = {"train": 0.8, "dev": 0.1, "test": 0.1}
BINARY_CLASSES = ("negative", "positive")
THREE_CLASSES = ("negative", "neutral", "positive")
NEUTRAL_RULES = ("drop", "class")


@dataclass(frozen=True)
class SentimentSource:
    """Texts with sentiment labels, held in memory.

    Attributes:
        name: where they come from, e.g. "vader" or "vader:movies".
        texts: the texts.
        labels: int64 class of each text.
        ratings: float64 mean human rating of each text (NaN when the
            source has labels only).
        origins: where each text comes from, e.g. "vader:movies/17".
        class_names: the name of each class.
    """

    name: str
    texts: tuple[str, ...]
    labels: np.ndarray
    ratings: np.ndarray
    origins: tuple[str, ...]
    class_names: tuple[str, ...]

    def __post_init__(self):
        n = len(self.texts)
        if not len(self.labels) == len(self.ratings) == len(self.origins) == n:
            raise ValueError(
                "texts, labels, ratings and origins must have one entry per text. Received: "
                f"{n}, {len(self.labels)}, {len(self.ratings)}, {len(self.origins)}"
            )

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, selection: np.ndarray, name: str | None = None) -> SentimentSource:
        """The texts at `selection` (an index array or a boolean mask)."""
        indices = np.arange(len(self))[selection]
        return SentimentSource(
            name or self.name,
            tuple(self.texts[i] for i in indices),
            self.labels[indices],
            self.ratings[indices],
            tuple(self.origins[i] for i in indices),
            self.class_names,
        )

    def class_counts(self) -> dict[str, int]:
        """Texts per class, by class name."""
        counts = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(count) for name, count in zip(self.class_names, counts, strict=True)}


def sentiment_labels(
    ratings: np.ndarray, margin: float = DEFAULT_MARGIN, neutral: str = "drop"
) -> tuple[np.ndarray, np.ndarray]:
    """The labelling rule: (int64 labels, boolean kept) for mean ratings on -4..+4.

    r <= -margin is negative, r >= margin positive; in between is neutral:
    not kept (`neutral="drop"`, labels 0 and 1) or kept as class 1 between
    negative 0 and positive 2 (`neutral="class"`).

    >>> sentiment_labels(np.array([-2.0, -0.2, 0.5, 3.1]))
    (array([0, 0, 1, 1]), array([ True, False,  True,  True]))
    """
    if not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"margin must be a number >= 0 (scale points). Received: margin={margin!r}")
    if neutral not in NEUTRAL_RULES:
        raise ValueError(f"neutral must be one of {NEUTRAL_RULES}. Received: neutral={neutral!r}")
    ratings = np.asarray(ratings, dtype=np.float64)
    positive, negative = ratings >= margin, ratings <= -margin
    if margin == 0:
        negative &= ~positive  # a rating of exactly 0 is positive when there is no neutral band
    if neutral == "drop":
        return positive.astype(np.int64), positive | negative
    return np.where(positive, 2, np.where(negative, 0, 1)).astype(np.int64), np.ones(len(ratings), bool)


def vader_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder of VADER's ground-truth files: `data_dir`, else `data_home() / "vader-3.3.2"`."""
    return Path(data_dir) if data_dir else data_home() / VADER_DIR


def read_vader_file(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    """(ids, texts, mean ratings) of one ground-truth file.

    Raises:
        SourceMissingError: the file is not there (the message says how to get it).
        SourceCorruptError: a line is not "id<TAB>rating<TAB>text", naming it.
    """
    if not path.is_file():
        raise SourceMissingError(
            f"VADER's human-rated sentiment texts are not on this machine: {path} is missing. Run "
            "`make data` (scripts/install_pypi_data.py unpacks them from the vaderSentiment 3.3.2 source "
            f"archive into {data_home() / VADER_DIR}), or pass the folder holding the *_GroundTruth.txt "
            "files with --data-dir."
        )
    ids, texts, ratings = [], [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("\t", 2)
        try:
            rating = float(fields[1])
            text = fields[2].strip()
        except (IndexError, ValueError):
            raise SourceCorruptError(
                f"{path}:{number}: expected 'id<TAB>mean rating<TAB>text'. Received: {line[:80]!r}"
            ) from None
        ids.append(fields[0])
        texts.append(text)
        ratings.append(rating)
    return ids, texts, np.array(ratings, dtype=np.float64)


def vader(
    parts: Sequence[str] = tuple(VADER_FILES),
    data_dir: str | os.PathLike | None = None,
    margin: float = DEFAULT_MARGIN,
    neutral: str = "drop",
) -> SentimentSource:
    """VADER's human-rated texts of the given `parts` (module docstring), labelled by `sentiment_labels`."""
    unknown = [part for part in parts if part not in VADER_FILES]
    if unknown or not parts:
        raise ValueError(f"VADER's parts are {tuple(VADER_FILES)}. Received: parts={tuple(parts)!r}")
    directory = vader_dir(data_dir)
    texts, ratings, origins = [], [], []
    for part in parts:
        ids, part_texts, part_ratings = read_vader_file(directory / VADER_FILES[part])
        texts += part_texts
        ratings.append(part_ratings)
        origins += [f"vader:{part}/{i}" for i in ids]
    ratings = np.concatenate(ratings)
    labels, kept = sentiment_labels(ratings, margin, neutral)
    name = "vader" if tuple(parts) == tuple(VADER_FILES) else "vader:" + "+".join(parts)
    classes = BINARY_CLASSES if neutral == "drop" else THREE_CLASSES
    everything = SentimentSource(name, tuple(texts), labels, ratings, tuple(origins), classes)
    return everything.take(kept)


def tfds_sentiment(name: str, data_dir: str | None = None, download: bool = False) -> SentimentSource:
    """Every labelled example of a tfds dataset with a text and a class label (e.g. "imdb_reviews").

    Args:
        name: the tfds name.
        data_dir: tfds' data directory (default: tfds' own).
        download: allow downloading. Off by default: a dataset not prepared
            locally raises `SourceMissingError`, kerasdl never touches the
            network unless asked.
    """
    import tensorflow_datasets as tfds

    builder = prepared_tfds_builder(
        name, data_dir, download, offline="use the default source, vader (make data)"
    )
    features = builder.info.features
    text_key = next((k for k, f in features.items() if isinstance(f, tfds.features.Text)), None)
    label_key = next((k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)), None)
    if text_key is None or label_key is None:
        raise ValueError(f"tfds dataset {name!r} has no text and class-label features: {list(features)}")
    texts, labels, origins = [], [], []
    for split in sorted(builder.info.splits):
        for index, example in enumerate(tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))):
            if example[label_key] < 0:  # imdb_reviews' "unsupervised" split has no labels
                continue
            texts.append(example[text_key].decode("utf-8"))
            labels.append(int(example[label_key]))
            origins.append(f"tfds:{name}/{split}/{index}")
    return SentimentSource(
        f"tfds:{name}",
        tuple(texts),
        np.array(labels, np.int64),
        np.full(len(texts), np.nan),
        tuple(origins),
        tuple(features[label_key].names),
    )


def load_sentiment_source(
    spec: str,
    data_dir: str | None = None,
    download: bool = False,
    margin: float = DEFAULT_MARGIN,
    neutral: str = "drop",
) -> SentimentSource:
    """A source from the string a user types: "vader", "vader:<part>[+<part>...]" or "tfds:<name>"."""
    if spec == "vader":
        return vader(data_dir=data_dir, margin=margin, neutral=neutral)
    if spec.startswith("vader:"):
        return vader(spec[len("vader:") :].split("+"), data_dir, margin, neutral)
    if spec.startswith("tfds:") and len(spec) > len("tfds:"):
        return tfds_sentiment(spec[len("tfds:") :], data_dir=data_dir, download=download)
    raise ValueError(
        f"Unknown sentiment source. Expected 'vader', 'vader:<part>' with parts {'/'.join(VADER_FILES)} "
        f"joined by '+', or 'tfds:<name>'. Received: source={spec!r}"
    )


def split_sentiment(
    source: SentimentSource, fractions: Mapping[str, float] = SENTIMENT_SPLITS, salt: str = "sentiment"
) -> dict[str, SentimentSource]:
    """Splits the texts by a hash of their content: deterministic, and equal texts share a split."""
    assignment = hash_assign(np.array(source.texts, dtype=object), fractions, salt)
    return {name: source.take(assignment == name, name=f"{source.name}/{name}") for name in fractions}


def token_matrix(
    token_lists: Sequence[Sequence[str]], vocabulary: WordVocabulary, max_length: int
) -> np.ndarray:
    """int32 [N, max_length]: each text's first `max_length` token ids, then PAD (0) to the right.

    Words outside the vocabulary are UNK (1), never PAD, so a row's length
    is its number of non-zero ids. A text without any word (only
    punctuation or emoticons) is one UNK: a masked model then averages or
    runs over one step instead of none (an average over no words is 0/0).
    """
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"max_length must be a positive integer. Received: max_length={max_length!r}")
    matrix = np.full((len(token_lists), max_length), PAD, dtype=np.int32)
    for row, tokens in enumerate(token_lists):
        ids = vocabulary.encode(tokens[:max_length])
        matrix[row, : max(len(ids), 1)] = ids if len(ids) else UNK
    return matrix


def sentence_batches(
    ids: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    length_multiple: int = 8,
) -> tf.data.Dataset:
    """Batches of (int32 token ids [B, T_batch], int64 labels [B]), each cut short after its longest sentence.

    With `shuffle`, every epoch draws a new seeded order
    (`pipelines.datasets.index_batches`), which a dataset built again with
    the same `seed` repeats (what `--resume` relies on). Cutting the
    batch's trailing all-PAD columns saves the recurrent steps a masked
    model would only carry its state through; T_batch is the longest
    sentence rounded up to a multiple of `length_multiple` (at most the
    matrix's width), so a compiled model sees a few shapes, not one per length.
    """
    if len(ids) != len(labels):
        raise ValueError(f"ids and labels must hold the same texts. Received: {len(ids)} and {len(labels)}")
    if isinstance(length_multiple, bool) or not isinstance(length_multiple, int) or length_multiple < 1:
        raise ValueError(f"length_multiple must be a positive integer. Received: {length_multiple!r}")
    width = int(np.shape(ids)[1])
    batches = index_batches(len(ids), batch_size, shuffle=shuffle, seed=seed)
    ids_tensor, labels_tensor = host_tensors(np.asarray(ids, np.int32), np.asarray(labels, np.int64))

    def gather(indices, _):
        x = tf.gather(ids_tensor, indices)
        length = tf.reduce_max(tf.reduce_sum(tf.cast(x != PAD, tf.int32), axis=1))
        length = tf.minimum(-(-tf.maximum(length, 1) // length_multiple) * length_multiple, width)
        return x[:, :length], tf.gather(labels_tensor, indices)

    return batches.map(gather, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)
