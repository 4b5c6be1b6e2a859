"""pipelines.words: tokens, the vocabulary, subsampling, skip-gram pairs and GloVe's co-occurrences.

Declared like a TFDS builder test: the corpus' sizes; then every vectorized
piece against a plain loop over token positions written here (the oracle),
and the random ones against their distributions (scipy.stats).
"""

import collections
import math

import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from pipelines.sources import SourceCorruptError, SourceMissingError
from pipelines.words import (
    PAD,
    UNK,
    WordStream,
    WordVocabulary,
    cooccurrence_matrix,
    encode_stream,
    keep_probabilities,
    load_word_corpus,
    parse_wordnet_data,
    skipgram_dataset,
    skipgram_epoch,
    skipgram_pairs,
    subsample,
    tokenize,
    tokenize_passages,
    wordnet_glosses,
)
from tests.conftest import offline_dataset

# Debian 12's wordnet-base 1:3.0-37 and fortunes 1:1.99.1-7.3: update with the packages.
WORDNET_SYNSETS = 117_659
WORDNET_TOKENS = 1_772_239
CORPUS_TOKENS = 2_209_095  # fortunes (436,856) + wordnet synsets with their words


def stream_of(*passages) -> WordStream:
    ids = np.concatenate([np.asarray(p, np.int32) for p in passages])
    return WordStream(ids, np.repeat(np.arange(len(passages), dtype=np.int32), [len(p) for p in passages]))


def pairs_by_loop(stream: WordStream, window: int, reach=None) -> collections.Counter:
    """(target, context) pairs by a loop over positions: the oracle of skipgram_pairs."""
    pairs = collections.Counter()
    for i in range(len(stream)):
        size = window if reach is None else reach[i]
        for j in range(max(0, i - size), min(len(stream), i + size + 1)):
            if j != i and stream.passages[i] == stream.passages[j]:
                pairs[int(stream.ids[i]), int(stream.ids[j])] += 1
    return pairs


class TestTokensAndVocabulary:
    def test_tokenize_keeps_inner_apostrophes_and_splits_the_rest(self):
        text = "Don\u2019t PANIC -- it's 42 o'clock, 'Sam'. well-known snake_case dogs' Café"
        expected = "don't panic it's 42 o'clock sam well known snake case dogs café"
        assert tokenize(text) == expected.split()
        assert tokenize("''' -- !") == []

    def test_ids_are_pad_unk_then_words_by_descending_count_ties_alphabetical(self):
        tokens = [["b", "a", "c", "b"], ["d", "a", "b", "c", "e"]]
        vocabulary = WordVocabulary.from_token_lists(tokens)
        assert vocabulary.words == ("<PAD>", "<UNK>", "b", "a", "c", "d", "e")
        assert vocabulary.counts.tolist() == [0, 0, 3, 2, 2, 1, 1]
        assert vocabulary.size == len(vocabulary) == 7 and vocabulary.total == 9
        assert vocabulary.id("c") == 4 and vocabulary.id("zebra") == UNK
        assert vocabulary.encode(["e", "zebra", "b"]).tolist() == [6, UNK, 2]
        assert vocabulary.encode(["e"]).dtype == np.int32
        assert vocabulary.decode([2, 3, PAD, UNK]) == ["b", "a", "<PAD>", "<UNK>"]
        assert "b" in vocabulary and "<UNK>" not in vocabulary and "zebra" not in vocabulary
        assert WordVocabulary.from_config(vocabulary.to_config()).words == vocabulary.words

    def test_min_count_and_max_size_cut_the_rarest_words(self):
        tokens = [["a"] * 5 + ["b"] * 3 + ["c"] * 3 + ["d"]]
        assert WordVocabulary.from_token_lists(tokens, min_count=3).words[2:] == ("a", "b", "c")
        assert WordVocabulary.from_token_lists(tokens, max_size=4).words == ("<PAD>", "<UNK>", "a", "b")

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"min_count": 0}, "min_count must be a positive integer. Received: min_count=0"),
            ({"max_size": 1}, "max_size must be None or an integer >= 2. Received: max_size=1"),
        ],
    )
    def test_bad_arguments(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            WordVocabulary.from_token_lists([["a"]], **kwargs)

    def test_encode_stream_removes_unknown_words_and_keeps_passages(self):
        vocabulary = WordVocabulary.from_token_lists([["a", "b"]])
        stream = encode_stream([["a", "x", "b"], ["y"], ["b"]], vocabulary)
        assert stream.ids.tolist() == [2, 3, 3] and stream.passages.tolist() == [0, 0, 2]
        kept = encode_stream([["a", "x"]], vocabulary, keep_unknown=True)
        assert kept.ids.tolist() == [2, UNK]


class TestSources:
    def test_wordnet_lines_give_words_and_gloss_and_skip_the_license(self):
        text = (
            "  1 This software and database is being provided\n"
            "  2   \n"
            '09500217 18 n 01 Paris 0 002 @i 09 | a city; "the Paris of the east"\n'
            "03014440 06 n 0b chest 0 chest_of_drawers 0 a 0 b 0 c 0 d 0 e 0 f 0 g 0 h 0 i 0 000 | drawers\n"
        )
        parsed = parse_wordnet_data(text)
        assert parsed[0] == ("09500217", 'Paris: a city; "the Paris of the east"')
        assert parsed[1][1] == "chest, chest of drawers, a, b, c, d, e, f, g, h, i: drawers"  # 0b words: 11
        with pytest.raises(SourceCorruptError, match="fewer words than it says"):
            parse_wordnet_data("03014440 06 n 03 chest 0 box 0 000 | drawers\n")
        with pytest.raises(SourceCorruptError, match="Not a WordNet synset line"):
            parse_wordnet_data("just some text\n")
        assert parse_wordnet_data(text, with_lemmas=False)[0][1] == 'a city; "the Paris of the east"'

    def test_wordnet_folder_without_data_files_says_how_to_get_them(self, tmp_path):
        with pytest.raises(SourceMissingError, match="apt-get install wordnet-base"):
            wordnet_glosses(tmp_path)

    def test_wordnet_has_its_declared_size(self):
        wordnet = offline_dataset(wordnet_glosses)
        assert len(wordnet) == WORDNET_SYNSETS and wordnet.origins[0].startswith("noun/")
        assert wordnet.passages[0].startswith("entity: that which is perceived or known")

    @pytest.mark.slow  # tokenizes 2.2 million tokens
    def test_the_default_corpus_has_its_declared_size(self):
        corpus = offline_dataset(load_word_corpus)
        assert corpus.name == "fortunes+wordnet" and len(corpus) == WORDNET_SYNSETS + 15_217
        tokens = [len(tokens) for tokens in tokenize_passages(corpus.passages)]
        assert sum(tokens) == CORPUS_TOKENS and sum(tokens[-WORDNET_SYNSETS:]) == WORDNET_TOKENS

    @pytest.mark.parametrize("spec", ["bible", "", "fortunes+", "wordnet+wordnet"])
    def test_unknown_corpus_is_refused(self, spec):
        with pytest.raises(ValueError, match="Unknown word corpus. Expected 'fortunes', 'wordnet'"):
            load_word_corpus(spec)


class TestSubsampling:
    def test_keep_probability_is_word2vecs_formula(self):
        counts = np.array([0, 0, 600, 300, 90, 9, 1])
        t = 1e-2
        keep = keep_probabilities(counts, t)
        for word, count in enumerate(counts):
            share = count / counts.sum()
            expected = 1.0 if count == 0 else min(1.0, (math.sqrt(share / t) + 1) * t / share)
            assert keep[word] == pytest.approx(expected, rel=1e-12)
        assert keep[2] < keep[3] < keep[4] < 1 and keep[6] == 1.0
        assert np.all(keep_probabilities(counts, 0) == 1)
        with pytest.raises(ValueError, match="sample must be in"):
            keep_probabilities(counts, 1.5)

    def test_subsample_keeps_each_word_at_its_rate(self):
        stream = stream_of(np.repeat([2, 3], 20_000))
        keep = np.array([1.0, 1.0, 0.3, 0.9])
        kept = subsample(stream, keep, np.random.default_rng(0))
        for word, rate in ((2, 0.3), (3, 0.9)):
            test = scipy.stats.binomtest(int(np.sum(kept.ids == word)), 20_000, rate)
            assert test.pvalue > 1e-3, (word, test)


class TestSkipGramPairs:
    def test_full_window_pairs_equal_the_loop_and_stay_in_their_passage(self):
        stream = stream_of([2, 3, 4, 2, 5], [6, 7], [8], [3, 3, 4])
        for window in (1, 2, 4):
            targets, contexts = skipgram_pairs(stream, window)
            assert collections.Counter(
                zip(targets.tolist(), contexts.tolist(), strict=True)
            ) == pairs_by_loop(stream, window)
        assert (6, 5) not in set(zip(*skipgram_pairs(stream, 4), strict=True))

    def test_dynamic_window_draws_distances_with_linearly_falling_weights(self):
        window, size = 5, 20_000
        stream = stream_of(np.arange(size))  # distinct ids: a pair's distance is |target - context|
        targets, contexts = skipgram_pairs(stream, window, np.random.default_rng(1))
        distances = np.abs(targets.astype(np.int64) - contexts)
        observed = np.bincount(distances, minlength=window + 1)[1:]
        weights = np.array([window - d + 1 for d in range(1, window + 1)], np.float64)  # P(reach >= d)
        result = scipy.stats.chisquare(observed, weights / weights.sum() * observed.sum())
        assert result.pvalue > 1e-3, (observed, result)
        assert distances.min() >= 1 and distances.max() <= window

    def test_an_epoch_is_seeded(self):
        stream = stream_of(np.arange(2, 200))
        keep = np.full(200, 0.5)
        first, again = skipgram_epoch(stream, 3, keep, seed=4), skipgram_epoch(stream, 3, keep, seed=4)
        assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
        assert not np.array_equal(first[0], skipgram_epoch(stream, 3, keep, seed=5)[0])

    def test_dataset_gives_full_batches_new_each_epoch_and_repeats_when_rebuilt(self):
        stream = stream_of(np.arange(2, 300), np.arange(300, 400))  # distinct ids: a pair shows its passage
        keep = np.full(400, 0.7)

        def epochs(dataset, count=2):
            return [np.concatenate([batch.numpy() for batch in dataset]) for _ in range(count)]

        tf.random.set_seed(0)
        dataset = skipgram_dataset(stream, 3, 64, keep=keep, seed=7)
        steps = int(dataset.cardinality())
        first = epochs(dataset)
        assert all(epoch.shape == (steps * 64, 2) and epoch.dtype == np.int32 for epoch in first)
        assert not np.array_equal(first[0], first[1])  # a new subsample and order each epoch
        targets, contexts = first[0].T
        assert np.all((targets < 300) == (contexts < 300)) and np.all(targets != contexts)  # within a passage
        tf.random.set_seed(0)
        again = epochs(skipgram_dataset(stream, 3, 64, keep=keep, seed=7))
        assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
        assert int(skipgram_dataset(stream, 3, 64, keep=keep, steps=3).cardinality()) == 3

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"window": 0}, "window must be a positive integer. Received: window=0"),
            ({"batch_size": 0}, "batch_size must be a positive integer. Received: batch_size=0"),
            ({"steps": 0}, "steps must be a positive integer. Received: steps=0"),
        ],
    )
    def test_bad_arguments(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            skipgram_dataset(stream_of([2, 3, 4]), **{"window": 2, "batch_size": 4, **kwargs})


class TestCooccurrences:
    def test_counts_equal_the_loop_with_one_over_distance_and_are_symmetric(self):
        stream = stream_of([2, 3, 4, 2, 5, 2], [3, 4], [5])
        window, size = 3, 6
        expected = np.zeros((size, size))
        for i in range(len(stream)):
            for j in range(len(stream)):
                if 0 < abs(i - j) <= window and stream.passages[i] == stream.passages[j]:
                    expected[stream.ids[i], stream.ids[j]] += 1.0 / abs(i - j)
        matrix = cooccurrence_matrix(stream, window, size)
        np.testing.assert_allclose(matrix.toarray(), expected, rtol=1e-12)
        np.testing.assert_array_equal(matrix.toarray(), matrix.toarray().T)
        assert matrix.nnz == np.count_nonzero(expected)  # one entry per nonzero X_ij
        assert matrix.toarray()[2, 2] == pytest.approx(1 / 3 + 1 / 2 + 1 / 3 + 1 / 2)  # 2 at 0, 3, 5
