"""Text sources and character-level pipelines: Debian's fortunes, any tfds text dataset, windows as tf.data.

Course 5, Week 1 ("Language model and sequence generation"): a language
model reads a corpus as a sequence of tokens y<1>, y<2>, ..., with an <EOS>
token at the end of each text and <UNK> for a token outside the
vocabulary, and learns P(y<t> | y<1>, ..., y<t-1>) by predicting every
token from the ones before it: the input at step t is the previous token,
x<t> = y<t-1>. Here the tokens are characters.

- `fortunes()`: the offline corpus, the plain-text files of Debian's
  `fortunes` package (/usr/share/games/fortunes), split at the "%" lines
  into one passage per fortune; the .dat index files and the .u8 links are
  skipped. `tfds_text("tiny_shakespeare")`: any TensorFlow Datasets text
  dataset, split at blank lines into passages (speeches, paragraphs).
  `load_text_source("fortunes" | "tfds:<name>")` is what a user types.
- `split_passages`: train / validation / test by a hash of each passage's
  *content* (`pipelines.splits.hash_assign`): the same on every machine and
  order, and a text that occurs twice (the fortune files repeat a few)
  lands in one split.
- `CharVocabulary`: the characters of the training split plus <EOS> (id 0,
  shown as the fortune files' "%" separator) and <UNK> (id 1, a character
  the training split never had); `encode_passages` lays the passages end to
  end, each followed by <EOS>.
- `char_windows` / `window_dataset`: non-overlapping windows of the encoded
  stream, inputs x = ids[i : i + T] and targets y = ids[i + 1 : i + T + 1],
  shifted by one character, as tf.data batches; a training epoch can be a
  seeded random subset of the windows (`steps`).

A source that is not there raises `pipelines.sources.SourceMissingError`,
whose message says what is missing and how to get it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from pipelines.datasets import AUTOTUNE, host_tensors, index_batches
from pipelines.sources import SourceCorruptError, SourceMissingError, prepared_tfds_builder
from pipelines.splits import hash_assign

FORTUNES_DIR = "/usr/share/games/fortunes"
FORTUNE_SEPARATOR = "%"  # a line of its own between two fortunes
INDEX_SUFFIXES = (".dat", ".u8")  # strfile's index files and the UTF-8 links Debian adds beside them
TEXT_SPLITS = {"train": 0.9, "validation": 0.05, "test": 0.05}
EOS, UNK = 0, 1  # the reserved ids of every CharVocabulary
_BLANK_LINES = re.compile(r"\n[ \t]*\n")


@dataclass(frozen=True)
class TextSource:
    """Passages of text held in memory.

    Attributes:
        name: where they come from, e.g. "fortunes" or "tfds:tiny_shakespeare".
        passages: the texts, each a unit that goes to one split whole (a fortune, a speech).
        origins: where each passage comes from, e.g. "fortunes/computers#12".
    """

    name: str
    passages: tuple[str, ...]
    origins: tuple[str, ...]

    def __post_init__(self):
        if len(self.passages) != len(self.origins):
            raise ValueError(
                f"passages and origins must have one entry per passage. "
                f"Received: {len(self.passages)} passages, {len(self.origins)} origins"
            )

    def __len__(self) -> int:
        return len(self.passages)

    @property
    def characters(self) -> int:
        """The number of characters in all passages (without separators)."""
        return sum(len(passage) for passage in self.passages)

    def take(self, mask: np.ndarray, name: str | None = None) -> TextSource:
        """The passages where the boolean `mask` is True."""
        keep = np.flatnonzero(mask)
        return TextSource(
            name or self.name, tuple(self.passages[i] for i in keep), tuple(self.origins[i] for i in keep)
        )


# --------------------------------------------------------------------------- sources


def parse_fortune_file(text: str) -> list[str]:
    """The fortunes of one strfile-format file: the text between lines holding only "%".

    Each fortune loses the newline before its separator; empty ones are dropped.

    >>> parse_fortune_file("Be yourself.\\n%\\nKnow thyself.\\n  -- Socrates\\n%\\n")
    ['Be yourself.', 'Know thyself.\\n  -- Socrates']
    """
    fortunes, lines = [], []
    for line in text.split("\n"):
        if line.rstrip("\r") == FORTUNE_SEPARATOR:
            fortunes.append("\n".join(lines))
            lines = []
        else:
            lines.append(line)
    fortunes.append("\n".join(lines))
    return [fortune.strip("\n") for fortune in fortunes if fortune.strip()]


def fortune_files(directory: str | os.PathLike | None = None) -> list[Path]:
    """The plain-text fortune files, by name; index files skipped.

    They are read from `directory`, else $KERASDL_FORTUNES_DIR, else Debian's location.
    """
    root = Path(directory or os.environ.get("KERASDL_FORTUNES_DIR") or FORTUNES_DIR)
    files = sorted(
        path
        for path in (root.iterdir() if root.is_dir() else [])
        if path.is_file() and not path.is_symlink() and not path.name.endswith(INDEX_SUFFIXES)
    )
    if not files:
        raise SourceMissingError(
            f"No fortune files in {root}. Install Debian's fortunes package "
            "(`apt-get install fortunes`, or `make data`), or pass --data-dir (or set KERASDL_FORTUNES_DIR) "
            "with a folder of strfile-format text files (fortunes separated by lines holding only '%')."
        )
    return files


def fortunes(directory: str | os.PathLike | None = None) -> TextSource:
    """Every fortune of Debian's `fortunes` package (or of the fortune files in `directory`).

    Returns:
        A `TextSource` with one passage per fortune, origins "<file>#<n>".

    Raises:
        SourceMissingError: no fortune file is there.
        SourceCorruptError: a file is not UTF-8 text.
    """
    passages, origins = [], []
    for path in fortune_files(directory):
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as error:
            raise SourceCorruptError(f"Fortune file {path} is not UTF-8 text: {error}") from None
        for number, fortune in enumerate(parse_fortune_file(text)):
            passages.append(fortune)
            origins.append(f"{path.name}#{number}")
    return TextSource("fortunes", tuple(passages), tuple(origins))


def split_into_passages(text: str) -> list[str]:
    """The paragraphs of `text`: the pieces between blank lines, without empty ones."""
    return [piece.strip("\n") for piece in _BLANK_LINES.split(text) if piece.strip()]


def tfds_text(name: str, data_dir: str | None = None, download: bool = False) -> TextSource:
    """Every split of a TensorFlow Datasets text dataset, as passages (paragraphs of each example's text).

    The first `tfds.features.Text` feature is read; each example is cut at
    blank lines, so that a dataset of one long text (tiny_shakespeare) still
    has many passages to split by hash.

    Args:
        name: the tfds name, e.g. "tiny_shakespeare".
        data_dir: tfds' data directory (default: tfds' own).
        download: allow downloading. Off by default: kerasdl never touches
            the network unless asked, and a dataset not prepared locally
            raises `SourceMissingError`.
    """
    import tensorflow_datasets as tfds

    builder = prepared_tfds_builder(
        name, data_dir, download, offline="use the default source, Debian's fortunes"
    )
    features = builder.info.features
    key = next((k for k, f in features.items() if isinstance(f, tfds.features.Text)), None)
    if key is None:
        raise ValueError(f"tfds dataset {name!r} has no text feature: {list(features)}")
    passages, origins = [], []
    for split in sorted(builder.info.splits):
        for index, example in enumerate(tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))):
            for number, passage in enumerate(split_into_passages(example[key].decode("utf-8"))):
                passages.append(passage)
                origins.append(f"{split}/{index}#{number}")
    return TextSource(f"tfds:{name}", tuple(passages), tuple(origins))


def load_text_source(spec: str, data_dir: str | None = None, download: bool = False) -> TextSource:
    """A text source from the string a user types: "fortunes" or "tfds:<name>"."""
    if spec == "fortunes":
        return fortunes(data_dir)
    if spec.startswith("tfds:"):
        return tfds_text(spec[len("tfds:") :], data_dir=data_dir, download=download)
    raise ValueError(f"Unknown text source. Expected 'fortunes' or 'tfds:<name>'. Received: source={spec!r}")


def split_passages(
    source: TextSource, fractions: Mapping[str, float] = TEXT_SPLITS, salt: str = "text"
) -> dict[str, TextSource]:
    """Splits passages by a hash of their content: deterministic, and equal texts share a split."""
    assignment = hash_assign(np.array(source.passages, dtype=object), fractions, salt)
    return {name: source.take(assignment == name, name=f"{source.name}/{name}") for name in fractions}


# ------------------------------------------------------------------------ vocabulary


@dataclass(frozen=True)
class CharVocabulary:
    """Characters <-> integer ids, with the lesson's <EOS> (id 0) and <UNK> (id 1).

    Attributes:
        characters: the characters of ids 2, 3, ..., in code-point order.

    Example:

        >>> vocabulary = CharVocabulary.from_texts(["ab", "ba!"])
        >>> vocabulary.characters, vocabulary.encode("ab?").tolist()
        (('!', 'a', 'b'), [3, 4, 1])
        >>> vocabulary.decode([3, 2, 0])
        'a!\\n%\\n'
    """

    characters: tuple[str, ...]

    def __post_init__(self):
        if any(len(c) != 1 for c in self.characters) or len(set(self.characters)) != len(self.characters):
            raise ValueError(f"characters must be distinct single characters. Received: {self.characters!r}")
        object.__setattr__(self, "_ids", {c: i + 2 for i, c in enumerate(self.characters)})

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> CharVocabulary:
        """Every character that occurs in `texts` (build it from the training split only)."""
        seen: set[str] = set()
        for text in texts:
            seen.update(text)
        return cls(tuple(sorted(seen)))

    @property
    def size(self) -> int:
        """Ids in all: the characters plus <EOS> and <UNK>."""
        return len(self.characters) + 2

    def encode(self, text: str) -> np.ndarray:
        """int32 ids of the characters of `text` (UNK for a character outside the vocabulary)."""
        ids = self._ids
        return np.fromiter((ids.get(c, UNK) for c in text), dtype=np.int32, count=len(text))

    def decode(self, ids: Iterable[int]) -> str:
        """The text of `ids`: <EOS> becomes the fortune files' separator line, <UNK> U+FFFD."""
        pieces = {EOS: f"\n{FORTUNE_SEPARATOR}\n", UNK: "\ufffd"}
        return "".join(pieces.get(i, None) or self.characters[i - 2] for i in map(int, ids))

    def encode_passages(self, passages: Sequence[str]) -> np.ndarray:
        """The corpus as one int32 stream: each passage's ids followed by EOS."""
        if not passages:
            return np.zeros(0, np.int32)
        eos = np.array([EOS], np.int32)
        return np.concatenate([part for passage in passages for part in (self.encode(passage), eos)])

    def unknown_share(self, passages: Sequence[str]) -> float:
        """The share of the characters of `passages` that are outside the vocabulary."""
        total = sum(len(p) for p in passages)
        unknown = sum(1 for p in passages for c in p if c not in self._ids)
        return unknown / total if total else 0.0

    def to_config(self) -> dict:
        return {"characters": "".join(self.characters)}

    @classmethod
    def from_config(cls, config: Mapping) -> CharVocabulary:
        return cls(tuple(config["characters"]))


# --------------------------------------------------------------------------- windows


def char_windows(ids: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows of the stream: x [n, length] and y [n, length], y shifted by one.

    Window i reads x = ids[i T : (i + 1) T] and predicts y = ids[i T + 1 :
    (i + 1) T + 1] (T = `length`): y<t> is the character after x<t>. The
    tail that does not fill a window is dropped.
    """
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"length must be a positive integer. Received: length={length!r}")
    ids = np.asarray(ids, np.int32)
    count = max(0, (len(ids) - 1) // length)
    x = ids[: count * length].reshape(count, length)
    y = ids[1 : count * length + 1].reshape(count, length)
    return x, y


def window_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int = 0,
    steps: int | None = None,
) -> tf.data.Dataset:
    """Batches of (x, y) windows, int32 [batch, T] each.

    With `shuffle`, every iterator (every epoch of `fit`) draws a new seeded
    order (`pipelines.datasets.index_batches`), so a dataset built again with
    the same `seed` repeats the epochs, which `--resume` relies on. With
    `steps`, an epoch is the first `steps` batches of that order: a random
    subset of the windows, new in each epoch, for corpora larger than an
    epoch should be.
    """
    if len(x) != len(y):
        raise ValueError(f"x and y must hold the same windows. Received: {len(x)} and {len(y)}")
    batches = index_batches(len(x), batch_size, shuffle=shuffle, seed=seed, drop_remainder=shuffle)
    if steps is not None:
        available = int(batches.cardinality())
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= available:
            raise ValueError(
                f"steps must be between 1 and the {available} batches of the windows. "
                f"Received: steps={steps!r}"
            )
        batches = batches.take(steps)
    x, y = host_tensors(x, y)
    return batches.map(
        lambda indices, _: (tf.gather(x, indices), tf.gather(y, indices)), num_parallel_calls=AUTOTUNE
    ).prefetch(AUTOTUNE)
