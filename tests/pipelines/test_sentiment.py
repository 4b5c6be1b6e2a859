"""pipelines.sentiment: the labelling rule, the VADER files, the hash split, the id matrices and batches.

Declared like a tfds builder test: the sizes and class counts of the real
files (`make data`), and no text in two splits. The parser and the rule are
also checked on small files written here, whose answers are known.
"""

import numpy as np
import pytest

from pipelines.sentiment import (
    VADER_FILES,
    load_sentiment_source,
    sentence_batches,
    sentiment_labels,
    split_sentiment,
    token_matrix,
    vader,
)
from pipelines.sources import SourceCorruptError, SourceMissingError
from pipelines.words import WordVocabulary
from tests.conftest import offline_dataset

# Lines in each file, and (negative, neutral, positive) under the default rule: margin 0.5.
VADER_SIZES = {"movies": 10_605, "amazon": 3_708, "nyt": 5_190, "tweets": 4_200}
VADER_CLASSES = {
    "movies": (5_076, 533, 4_996),
    "amazon": (1_235, 723, 1_750),
    "nyt": (1_783, 2_220, 1_187),
    "tweets": (1_087, 768, 2_345),
}


def test_the_rule_at_its_boundaries():
    ratings = np.array([-4.0, -0.5, -0.49, 0.0, 0.49, 0.5, 3.9])
    labels, kept = sentiment_labels(ratings)
    assert kept.tolist() == [True, True, False, False, False, True, True]
    assert labels[kept].tolist() == [0, 0, 1, 1]
    labels, kept = sentiment_labels(ratings, neutral="class")
    assert kept.all() and labels.tolist() == [0, 0, 1, 1, 1, 2, 2]
    labels, kept = sentiment_labels(ratings, margin=0.0)
    assert kept.all() and labels.tolist() == [0, 0, 0, 1, 1, 1, 1]  # no neutral band: 0 counts as positive
    with pytest.raises(ValueError, match="margin must be a number >= 0"):
        sentiment_labels(ratings, margin=-1)
    with pytest.raises(ValueError, match="neutral must be one of"):
        sentiment_labels(ratings, neutral="keep")


@pytest.fixture
def tiny_vader(tmp_path):
    """Four small ground-truth files: positive, negative and neutral lines in movies, one in the others."""
    (tmp_path / VADER_FILES["movies"]).write_text(
        "1\t2.5\tA fine film.\n2\t-1.2\tDull.\n3\t0.1\tIt exists.\n"
        "4\t-3\tAwful, awful.\n5\t0.7\tQuite nice\n",
        encoding="utf-8",
    )
    for part in ("amazon", "nyt", "tweets"):
        (tmp_path / VADER_FILES[part]).write_text(f"1_1\t1.0\t{part} text\n", encoding="utf-8")
    return tmp_path


def test_vader_reads_labels_and_drops_the_neutral_texts(tiny_vader):
    movies = vader(["movies"], tiny_vader)
    assert movies.name == "vader:movies" and movies.class_names == ("negative", "positive")
    assert movies.texts == ("A fine film.", "Dull.", "Awful, awful.", "Quite nice")
    assert movies.labels.tolist() == [1, 0, 0, 1]
    assert movies.ratings.tolist() == [2.5, -1.2, -3.0, 0.7]
    assert movies.origins == ("vader:movies/1", "vader:movies/2", "vader:movies/4", "vader:movies/5")
    everything = load_sentiment_source("vader", tiny_vader, neutral="class")
    assert len(everything) == 8 and everything.class_counts() == {"negative": 2, "neutral": 1, "positive": 5}
    assert load_sentiment_source("vader:nyt+tweets", tiny_vader).origins == (
        "vader:nyt/1_1",
        "vader:tweets/1_1",
    )


def test_a_missing_or_corrupt_file_is_a_clear_error(tmp_path, tiny_vader):
    with pytest.raises(
        SourceMissingError, match=r"movieReviewSnippets_GroundTruth.txt is missing. Run `make data`"
    ):
        vader(data_dir=tmp_path / "nowhere")
    (tiny_vader / VADER_FILES["nyt"]).write_text("1_1\tpositive\tnot a number\n")
    with pytest.raises(
        SourceCorruptError, match=r"nytEditorialSnippets_GroundTruth.txt:1: expected 'id<TAB>mean"
    ):
        vader(["nyt"], tiny_vader)


@pytest.mark.parametrize("spec", ["vader:films", "imdb", "tfds:", ""])
def test_an_unknown_source_is_a_value_error(tiny_vader, spec):
    with pytest.raises(ValueError, match="Unknown sentiment source|VADER's parts are"):
        load_sentiment_source(spec, tiny_vader)


def test_tfds_offline_says_to_download(tmp_path):
    with pytest.raises(SourceMissingError, match="tfds dataset 'imdb_reviews' is not prepared.*--download"):
        load_sentiment_source("tfds:imdb_reviews", data_dir=str(tmp_path))


def test_the_real_files_sizes_classes_and_splits():
    for part, size in VADER_SIZES.items():
        three = offline_dataset(lambda part=part: vader([part], neutral="class"))
        assert len(three) == size, part
        assert tuple(three.class_counts().values()) == VADER_CLASSES[part], part
    source = vader()
    negative, positive = (sum(VADER_CLASSES[p][i] for p in VADER_CLASSES) for i in (0, 2))
    assert source.class_counts() == {"negative": negative, "positive": positive}
    splits = split_sentiment(source)
    assert sum(len(part) for part in splits.values()) == len(source)
    sizes = {name: len(part) for name, part in splits.items()}
    assert sizes == {"train": 15_568, "dev": 1_911, "test": 1_980}  # 80 / 10 / 10 by hash
    texts = {name: set(part.texts) for name, part in splits.items()}
    assert not (
        texts["train"] & texts["dev"] or texts["train"] & texts["test"] or texts["dev"] & texts["test"]
    )
    assert split_sentiment(source)["dev"].origins == splits["dev"].origins  # the same every time


def test_token_matrix_pads_truncates_and_marks_unknown_words():
    vocabulary = WordVocabulary.from_token_lists([["good", "film", "good"]])
    matrix = token_matrix([["good", "film"], ["bad", "good", "film", "good"], []], vocabulary, max_length=3)
    good, film = vocabulary.id("good"), vocabulary.id("film")
    assert matrix.dtype == np.int32
    assert matrix.tolist() == [[good, film, 0], [1, good, film], [1, 0, 0]]  # a text without words is one UNK


def test_sentence_batches_cut_each_batch_to_its_length_and_keep_the_labels():
    ids = np.zeros((10, 20), np.int32)
    lengths = [1, 2, 3, 9, 4, 5, 17, 6, 2, 3]
    for row, length in enumerate(lengths):
        ids[row, :length] = np.arange(2, 2 + length)
    labels = np.arange(10)
    batches = list(sentence_batches(ids, labels, batch_size=4, length_multiple=8))
    assert [tuple(x.shape) for x, _ in batches] == [(4, 16), (4, 20), (2, 8)]  # 9 -> 16; 17 -> 24, cut at 20
    for (x, y), start in zip(batches, (0, 4, 8), strict=True):
        np.testing.assert_array_equal(x.numpy(), ids[start : start + len(y), : x.shape[1]])
        np.testing.assert_array_equal(y.numpy(), labels[start : start + len(y)])
    shuffled = [
        np.concatenate([y.numpy() for _, y in sentence_batches(ids, labels, 4, shuffle=True, seed=1)])
    ]
    again = [np.concatenate([y.numpy() for _, y in sentence_batches(ids, labels, 4, shuffle=True, seed=1)])]
    assert sorted(shuffled[0].tolist()) == list(range(10)) and shuffled[0].tolist() == again[0].tolist()
