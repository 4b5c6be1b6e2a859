"""pipelines.text: fortune files, content-hash splits, the character vocabulary and shifted windows.

Declared like a TFDS builder test: the corpus' size, splits that never share
a passage (hashed by content), a vocabulary that covers the training split,
and windows whose targets are their inputs shifted by one character.
"""

import collections
import os

import numpy as np
import pytest
import tensorflow as tf

from pipelines.sources import SourceCorruptError, SourceMissingError
from pipelines.text import (
    EOS,
    TEXT_SPLITS,
    UNK,
    CharVocabulary,
    TextSource,
    char_windows,
    fortune_files,
    fortunes,
    load_text_source,
    parse_fortune_file,
    split_into_passages,
    split_passages,
    window_dataset,
)

# Debian 12's fortunes 1:1.99.1-7.3 (with fortunes-min): update with the package.
FORTUNES = 15_217
FORTUNE_CHARACTERS = 2_530_963


def fortune_dir(tmp_path, files: dict[str, str]):
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def source(passages) -> TextSource:
    return TextSource("test", tuple(passages), tuple(f"test#{i}" for i in range(len(passages))))


class TestText:
    # -- sources ---------------------------------------------------------------------------

    def test_fortune_files_split_at_percent_lines(self):
        text = "First.\n%\nSecond,\n  two lines.\n%\n\n%\n50% off is not a separator\n%\n"
        assert parse_fortune_file(text) == ["First.", "Second,\n  two lines.", "50% off is not a separator"]
        assert parse_fortune_file("No separator at all\n") == ["No separator at all"]

    def test_index_files_and_links_are_skipped(self, tmp_path):
        directory = fortune_dir(tmp_path, {"wisdom": "A.\n%\nB.\n%\n", "wisdom.dat": "\x00\x02binary"})
        os.symlink("wisdom", tmp_path / "wisdom.u8")
        assert [path.name for path in fortune_files(directory)] == ["wisdom"]
        corpus = fortunes(directory)
        assert corpus.passages == ("A.", "B.") and corpus.origins == ("wisdom#0", "wisdom#1")
        assert corpus.characters == 4

    def test_a_missing_corpus_says_how_to_get_it(self, tmp_path):
        with pytest.raises(SourceMissingError, match=r"apt-get install fortunes"):
            fortunes(tmp_path / "absent")

    def test_a_file_that_is_not_utf8_is_named(self, tmp_path):
        (tmp_path / "latin").write_bytes("Caf\xe9\n%\n".encode("latin-1"))
        with pytest.raises(SourceCorruptError, match="latin is not UTF-8"):
            fortunes(tmp_path)

    def test_passages_of_a_long_text_are_its_paragraphs(self):
        text = "First Citizen:\nSpeak.\n\nAll:\nSpeak, speak.\n \n\n\nEnd."
        assert split_into_passages(text) == ["First Citizen:\nSpeak.", "All:\nSpeak, speak.", "End."]

    def test_an_unprepared_tfds_dataset_is_one_clear_error_offline(self, tmp_path):
        with pytest.raises(SourceMissingError, match="not prepared .* pass --download"):
            load_text_source("tfds:tiny_shakespeare", data_dir=str(tmp_path))
        with pytest.raises(ValueError, match="Expected 'fortunes' or 'tfds:<name>'"):
            load_text_source("shakespeare")

    def test_debian_fortunes_size(self, fortunes_all):
        assert len(fortunes_all) == FORTUNES
        assert fortunes_all.characters == FORTUNE_CHARACTERS
        assert all(passage and passage == passage.strip("\n") for passage in fortunes_all.passages)
        assert not any(line == "%" for passage in fortunes_all.passages for line in passage.split("\n"))

    # -- splits ----------------------------------------------------------------------------

    def test_splits_are_disjoint_by_fortune_and_cover_the_corpus(self, fortunes_all):
        parts = split_passages(fortunes_all)
        texts = {name: set(part.passages) for name, part in parts.items()}
        assert not texts["train"] & texts["validation"]
        assert not texts["train"] & texts["test"]
        assert not texts["validation"] & texts["test"]
        assert sum(len(part) for part in parts.values()) == FORTUNES
        for name, share in TEXT_SPLITS.items():
            assert len(parts[name]) / FORTUNES == pytest.approx(share, abs=0.01)

    def test_copies_of_a_fortune_share_a_split(self, fortunes_all):
        parts = split_passages(fortunes_all)
        repeated = {text for text, count in collections.Counter(fortunes_all.passages).items() if count > 1}
        assert repeated  # the files repeat a few fortunes
        for text in repeated:
            assert sum(text in part.passages for part in parts.values()) == 1

    def test_splits_are_deterministic_and_independent_of_order(self):
        passages = [f"fortune number {i}\n\t-- someone" for i in range(2000)]
        first = {name: set(part.passages) for name, part in split_passages(source(passages)).items()}
        again = {name: set(part.passages) for name, part in split_passages(source(passages[::-1])).items()}
        assert first == again
        other_salt = split_passages(source(passages), salt="other")
        assert first["test"] != set(other_salt["test"].passages)

    # -- vocabulary ------------------------------------------------------------------------

    def test_vocabulary_covers_the_training_split(self, fortunes_all):
        parts = split_passages(fortunes_all)
        vocabulary = CharVocabulary.from_texts(parts["train"].passages)
        assert set("".join(parts["train"].passages)) == set(vocabulary.characters)
        stream = vocabulary.encode_passages(parts["train"].passages)
        assert UNK not in stream and np.sum(stream == EOS) == len(parts["train"])
        assert len(stream) == parts["train"].characters + len(parts["train"])
        for name in ("validation", "test"):  # held-out text: almost every character is known
            assert vocabulary.unknown_share(parts[name].passages) < 1e-4

    def test_decoding_the_stream_gives_back_the_fortune_file(self):
        passages = ["Be yourself.", "Know thyself.\n  -- Socrates"]
        vocabulary = CharVocabulary.from_texts(passages)
        stream = vocabulary.encode_passages(passages)
        assert vocabulary.decode(stream) == "".join(passage + "\n%\n" for passage in passages)
        assert vocabulary.encode("Bé").tolist() == [vocabulary.encode("B")[0], UNK]
        assert vocabulary.decode([UNK]) == "\ufffd"

    def test_vocabulary_round_trips_through_its_config(self):
        vocabulary = CharVocabulary.from_texts(["tab\there, newline\n, quote ' and %"])
        assert CharVocabulary.from_config(vocabulary.to_config()) == vocabulary
        assert vocabulary.size == len(vocabulary.characters) + 2

    def test_a_vocabulary_of_strings_is_refused(self):
        with pytest.raises(ValueError, match="distinct single characters"):
            CharVocabulary(("ab", "c"))

    # -- windows ---------------------------------------------------------------------------

    def test_windows_shift_by_one_character(self):
        ids = np.arange(23, dtype=np.int32)
        x, y = char_windows(ids, 5)
        assert x.shape == y.shape == (4, 5)  # (23 - 1) // 5 windows; the tail is dropped
        np.testing.assert_array_equal(y, x + 1)  # y<t> is the character after x<t>
        np.testing.assert_array_equal(x.ravel(), ids[:20])  # non-overlapping, in order
        np.testing.assert_array_equal(y[:, :-1], x[:, 1:])

    def test_windows_of_real_text(self, fortunes_all):
        passages = fortunes_all.passages[:50]
        vocabulary = CharVocabulary.from_texts(passages)
        stream = vocabulary.encode_passages(passages)
        x, y = char_windows(stream, 64)
        assert vocabulary.decode(x[0][1:]) == vocabulary.decode(y[0][:-1])
        assert vocabulary.decode(np.concatenate([x[0], y[0][-1:]])) == vocabulary.decode(stream[:65])

    @pytest.mark.parametrize("length", [0, -3, 2.5, True])
    def test_a_bad_window_length_is_refused(self, length):
        with pytest.raises(ValueError, match="length must be a positive integer"):
            char_windows(np.arange(10), length)

    def test_an_epoch_is_a_new_random_subset_and_a_rebuilt_dataset_repeats_them(self):
        x, y = char_windows(np.arange(4001, dtype=np.int32), 10)  # 400 windows
        tf.random.set_seed(0)
        dataset = window_dataset(x, y, 8, shuffle=True, seed=3, steps=5)
        assert int(dataset.cardinality()) == 5
        epochs = [np.concatenate([bx.numpy()[:, 0] for bx, _ in dataset]) for _ in range(3)]
        assert all(len(epoch) == 40 and len(set(epoch.tolist())) == 40 for epoch in epochs)
        assert not np.array_equal(epochs[0], epochs[1])
        tf.random.set_seed(0)
        rebuilt = window_dataset(x, y, 8, shuffle=True, seed=3, steps=5)
        assert all(
            np.array_equal(epoch, np.concatenate([bx.numpy()[:, 0] for bx, _ in rebuilt])) for epoch in epochs
        )
        for bx, by in dataset.take(1):
            np.testing.assert_array_equal(by.numpy()[:, :-1], bx.numpy()[:, 1:])

    def test_an_evaluation_dataset_reads_every_window_in_order(self):
        x, y = char_windows(np.arange(1001, dtype=np.int32), 10)
        batches = list(window_dataset(x, y, 32))
        np.testing.assert_array_equal(np.concatenate([bx.numpy() for bx, _ in batches]), x)
        assert [len(bx) for bx, _ in batches] == [32, 32, 32, 4]

    def test_more_steps_than_batches_is_refused(self):
        x, y = char_windows(np.arange(101, dtype=np.int32), 10)
        with pytest.raises(ValueError, match=r"steps must be between 1 and the 2 batches"):
            window_dataset(x, y, 4, shuffle=True, steps=3)
