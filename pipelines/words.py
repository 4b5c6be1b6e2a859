"""Word-level corpora and pipelines for word embeddings: tokens, vocabulary, skip-gram pairs, co-occurrences.

Course 5, Week 2 ("Learning word embeddings: word2vec and GloVe"): both
models learn from which words occur near which. Skip-gram picks a *context*
word c within a window around a *target* word t and learns to tell the true
pair (c, t) from k negative words; GloVe fits the logarithm of X_ij, the
number of times word j occurs in the window of word i.

- Corpus (`load_word_corpus`): the default, "fortunes+wordnet", is Debian's
  `fortunes` (15,217 fortunes, 436,856 tokens) plus the 117,659 synsets of
  Debian's `wordnet-base` (/usr/share/wordnet/data.{noun,verb,adj,adv}),
  one passage per synset: its words (underscores as spaces) followed by its
  gloss, the definition and examples after the "|" (1,772,239 tokens;
  1,475,082 from the glosses alone): 2,209,095 tokens in all. With the
  synset words, a definition like "Paris, City of Light, ...: the capital and
  largest city of France" puts each word next to what defines it; with
  min_count 5 (30,763 ids) the vocabulary covers 10,001 of the 19,544
  questions of the Google analogy set. The license header at the top of
  each WordNet file (lines starting with two spaces) is skipped. Debian's
  `bible-kjv-text` is not used: its /usr/lib/bible.data is a compressed
  binary format, not text. "fortunes", "wordnet" and "tfds:<name>" (any
  TensorFlow Datasets text dataset, `--download` when online) are the
  other sources; "a+b" joins sources.
- `tokenize`: lowercase words, see its docstring for the rule.
- `WordVocabulary`: ids 0 = "<PAD>", 1 = "<UNK>", then the words by
  descending count (ties alphabetical), cut by `min_count` and `max_size`.
- `encode_stream`: the corpus as one int32 id stream with the passage of
  each token; out-of-vocabulary tokens are *removed*, as word2vec and gensim
  do, so a window reaches over them.
- `keep_probabilities` / `subsample`: frequent words are dropped at random
  each epoch (Mikolov et al. 2013), with the word2vec C code's variant of the
  formula, which gensim also uses.
- `skipgram_pairs` / `skipgram_dataset`: (target, context) pairs within a
  *dynamic* window, shuffled, as tf.data batches with a new subsample and
  new windows in every epoch; `skipgram_epoch` makes one epoch's pairs.
- `cooccurrence_matrix`: GloVe's X with 1/distance weighting, as a
  `scipy.sparse.coo_matrix`.

Everything is vectorized NumPy: one pass per window offset, never a Python
loop over tokens. A source that is not there raises
`pipelines.sources.SourceMissingError`, whose message says how to get it.
"""

from __future__ import annotations

import collections
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse
import tensorflow as tf

from pipelines.datasets import AUTOTUNE
from pipelines.sources import SourceCorruptError, SourceMissingError
from pipelines.text import TextSource, fortunes, tfds_text

PAD, UNK = 0, 1  # the reserved ids of every WordVocabulary
PAD_TOKEN, UNK_TOKEN = "<PAD>", "<UNK>"
WORDNET_DIR = "/usr/share/wordnet"
WORDNET_PARTS = ("noun", "verb", "adj", "adv")  # data.<part> files
DEFAULT_CORPUS = "fortunes+wordnet"
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


# --------------------------------------------------------------------------- tokens


def tokenize(text: str) -> list[str]:
    """Lowercase word tokens of `text`.

    The rule: lowercase the text, turn typographic apostrophes (U+2019,
    U+2018, U+02BC) into "'", then take every maximal run of letters and
    digits (any script; "_" separates) that may continue through single
    apostrophes *between* two such runs. So "don't" and "o'clock" stay one
    token, while quotes around a word ('hello') and a trailing possessive
    apostrophe (dogs') are dropped; punctuation, hyphens and underscores split.

    >>> tokenize("Don't PANIC -- it's 42 o'clock, 'Sam'. well-known")
    ["don't", 'panic', "it's", '42', "o'clock", 'sam', 'well', 'known']
    """
    return _WORD.findall(text.lower().translate(_APOSTROPHES))


def tokenize_passages(passages: Iterable[str]) -> list[list[str]]:
    """`tokenize` of each passage."""
    return [tokenize(passage) for passage in passages]


# --------------------------------------------------------------------------- sources


def parse_wordnet_data(text: str, with_lemmas: bool = True) -> list[tuple[str, str]]:
    """(synset offset, passage) of each synset line of one WordNet data file.

    A synset line is "offset lex_filenum ss_type w_cnt word lex_id [word
    lex_id...] p_cnt [pointers...] [frames...] | gloss"; w_cnt is
    hexadecimal. The passage is the gloss, preceded by the synset's words
    (underscores as spaces) and ": " when `with_lemmas`. Lines starting with
    two spaces (the license header) are skipped.

    >>> parse_wordnet_data("  license\\n00001740 03 n 01 entity 0 000 | that which is\\n")
    [('00001740', 'entity: that which is')]
    """
    synsets = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("  "):
            continue
        head, bar, gloss = line.partition("|")
        fields = head.split()
        if not bar or len(fields) < 5:
            raise SourceCorruptError(f"Not a WordNet synset line: {line[:80]!r}")
        gloss = gloss.strip()
        if with_lemmas:
            count = int(fields[3], 16)
            if len(fields) < 4 + 2 * count:
                raise SourceCorruptError(
                    f"A WordNet synset line with fewer words than it says: {line[:80]!r}"
                )
            words = [fields[4 + 2 * i].replace("_", " ") for i in range(count)]
            gloss = f"{', '.join(words)}: {gloss}"
        synsets.append((fields[0], gloss))
    return synsets


def wordnet_glosses(directory: str | os.PathLike | None = None, with_lemmas: bool = True) -> TextSource:
    """One passage per WordNet synset: its words and its gloss (definition and examples).

    Read from `directory`, else $KERASDL_WORDNET_DIR, else Debian's
    /usr/share/wordnet (package `wordnet-base`). Origins are "<part>/<offset>".

    Raises:
        SourceMissingError: no data.noun / data.verb / data.adj / data.adv there.
    """
    root = Path(directory or os.environ.get("KERASDL_WORDNET_DIR") or WORDNET_DIR)
    files = [root / f"data.{part}" for part in WORDNET_PARTS if (root / f"data.{part}").is_file()]
    if not files:
        raise SourceMissingError(
            f"No WordNet data files (data.noun, data.verb, data.adj, data.adv) in {root}. Install Debian's "
            "wordnet-base package (`apt-get install wordnet-base`, or `make data`), or set "
            "KERASDL_WORDNET_DIR to a folder holding them."
        )
    passages, origins = [], []
    for path in files:
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as error:
            raise SourceCorruptError(f"WordNet file {path} is not UTF-8 text: {error}") from None
        for offset, passage in parse_wordnet_data(text, with_lemmas):
            passages.append(passage)
            origins.append(f"{path.suffix[1:]}/{offset}")
    return TextSource("wordnet", tuple(passages), tuple(origins))


def load_word_corpus(spec: str = DEFAULT_CORPUS, download: bool = False) -> TextSource:
    """A corpus from the string a user types: "fortunes", "wordnet", "tfds:<name>", or several joined by "+".

    Origins of a joined corpus are prefixed with their source's name.
    """
    parts = [part.strip() for part in spec.split("+")]
    if not spec or any(not part for part in parts) or len(set(parts)) != len(parts):
        raise ValueError(
            "Unknown word corpus. Expected 'fortunes', 'wordnet', 'tfds:<name>' or several joined by '+'. "
            f"Received: corpus={spec!r}"
        )
    sources = []
    for part in parts:
        if part == "fortunes":
            sources.append(fortunes())
        elif part == "wordnet":
            sources.append(wordnet_glosses())
        elif part.startswith("tfds:"):
            sources.append(tfds_text(part[len("tfds:") :], download=download))
        else:
            raise ValueError(
                "Unknown word corpus. Expected 'fortunes', 'wordnet', 'tfds:<name>' or several joined by "
                f"'+'. Received: corpus={spec!r}"
            )
    if len(sources) == 1:
        return sources[0]
    passages = tuple(p for source in sources for p in source.passages)
    origins = tuple(f"{source.name}:{o}" for source in sources for o in source.origins)
    return TextSource(spec, passages, origins)


# ------------------------------------------------------------------------ vocabulary


@dataclass(frozen=True, eq=False)
class WordVocabulary:
    """Words <-> integer ids: 0 = "<PAD>", 1 = "<UNK>", then words by descending count.

    Attributes:
        words: the word of each id (index = id), "<PAD>" and "<UNK>" first.
        counts: int64 count of each id in the corpus it was built from (0 for PAD and UNK).

    Example:

        >>> vocabulary = WordVocabulary.from_token_lists([["b", "a", "b"], ["c", "a", "b"]], min_count=2)
        >>> vocabulary.words, vocabulary.counts.tolist()
        (('<PAD>', '<UNK>', 'b', 'a'), [0, 0, 3, 2])
        >>> vocabulary.encode(["a", "c"]).tolist(), vocabulary.decode([2, 3, 1])
        ([3, 1], ['b', 'a', '<UNK>'])
    """

    words: tuple[str, ...]
    counts: np.ndarray

    def __post_init__(self):
        counts = np.asarray(self.counts, dtype=np.int64)
        if self.words[:2] != (PAD_TOKEN, UNK_TOKEN):
            raise ValueError(
                f"words must start with {PAD_TOKEN!r}, {UNK_TOKEN!r}. Received: {self.words[:2]!r}"
            )
        if counts.shape != (len(self.words),) or np.any(counts < 0):
            raise ValueError(
                f"counts must hold one non-negative count per word. Received: shape={counts.shape} "
                f"for {len(self.words)} words"
            )
        if len(set(self.words)) != len(self.words):
            raise ValueError("words must be distinct.")
        counts.setflags(write=False)
        object.__setattr__(self, "counts", counts)
        object.__setattr__(self, "_ids", {word: i for i, word in enumerate(self.words)})

    @classmethod
    def from_token_lists(
        cls, token_lists: Iterable[Sequence[str]], min_count: int = 1, max_size: int | None = None
    ) -> WordVocabulary:
        """The words seen at least `min_count` times, the `max_size` most frequent (PAD and UNK included)."""
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise ValueError(f"min_count must be a positive integer. Received: min_count={min_count!r}")
        if max_size is not None and (
            isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 2
        ):
            raise ValueError(f"max_size must be None or an integer >= 2. Received: max_size={max_size!r}")
        counter: collections.Counter[str] = collections.Counter()
        for tokens in token_lists:
            counter.update(tokens)
        counter.pop(PAD_TOKEN, None)
        counter.pop(UNK_TOKEN, None)
        kept = sorted((word for word, n in counter.items() if n >= min_count), key=lambda w: (-counter[w], w))
        if max_size is not None:
            kept = kept[: max_size - 2]
        return cls((PAD_TOKEN, UNK_TOKEN, *kept), np.array([0, 0] + [counter[w] for w in kept], np.int64))

    @property
    def size(self) -> int:
        """Ids in all, PAD and UNK included."""
        return len(self.words)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self._ids and self._ids[word] > UNK

    def id(self, word: str) -> int:
        """The id of `word`; UNK (1) when it is not in the vocabulary."""
        return self._ids.get(word, UNK)

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """int32 ids of `tokens` (UNK for a word outside the vocabulary)."""
        ids = self._ids
        return np.fromiter((ids.get(t, UNK) for t in tokens), dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """The words of `ids`."""
        return [self.words[i] for i in map(int, ids)]

    @property
    def total(self) -> int:
        """Tokens of the corpus that are in the vocabulary."""
        return int(self.counts.sum())

    def to_config(self) -> dict:
        return {"words": list(self.words), "counts": self.counts.tolist()}

    @classmethod
    def from_config(cls, config) -> WordVocabulary:
        return cls(tuple(config["words"]), np.asarray(config["counts"], np.int64))


# --------------------------------------------------------------------------- streams


@dataclass(frozen=True, eq=False)
class WordStream:
    """A corpus as one id stream: `ids[i]` is a token, `passages[i]` the passage it belongs to.

    Windows never reach from one passage into the next.
    """

    ids: np.ndarray
    passages: np.ndarray

    def __post_init__(self):
        if self.ids.shape != self.passages.shape or self.ids.ndim != 1:
            raise ValueError(
                f"ids and passages must be 1-D of equal length. Received: {self.ids.shape}, "
                f"{self.passages.shape}"
            )

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, mask: np.ndarray) -> WordStream:
        """The tokens where the boolean `mask` is True (windows then reach over the dropped ones)."""
        return WordStream(self.ids[mask], self.passages[mask])


def encode_stream(
    token_lists: Sequence[Sequence[str]], vocabulary: WordVocabulary, keep_unknown: bool = False
) -> WordStream:
    """The passages as one int32 stream; tokens outside the vocabulary are removed (or kept as UNK)."""
    lengths = np.fromiter((len(tokens) for tokens in token_lists), np.int64, count=len(token_lists))
    ids = vocabulary.encode(token for tokens in token_lists for token in tokens)
    passages = np.repeat(np.arange(len(token_lists), dtype=np.int32), lengths)
    stream = WordStream(ids, passages)
    return stream if keep_unknown else stream.take(ids != UNK)


def keep_probabilities(counts: np.ndarray, sample: float = 1e-3) -> np.ndarray:
    """The probability that subsampling keeps each word, float64 per id.

    Mikolov et al. 2013 ("Distributed Representations of Words and Phrases",
    section 2.3) drop word w with probability 1 - sqrt(t / f(w)), f(w) its
    share of the corpus. The word2vec C code, and gensim after it, use a
    different variant, taken here so that kerasdl and gensim subsample alike:

        keep(w) = min(1, (sqrt(f(w) / t) + 1) * t / f(w)),    t = `sample`

    With `sample` = 0 nothing is dropped; ids with count 0 (PAD, UNK) get 1.
    """
    if not 0 <= sample < 1:
        raise ValueError(f"sample must be in [0, 1). Received: sample={sample!r}")
    counts = np.asarray(counts, np.float64)
    keep = np.ones_like(counts)
    if sample == 0:
        return keep
    share = counts / counts.sum()
    seen = share > 0
    keep[seen] = np.minimum(1.0, (np.sqrt(share[seen] / sample) + 1) * sample / share[seen])
    return keep


def subsample(stream: WordStream, keep: np.ndarray, rng: np.random.Generator) -> WordStream:
    """The stream with each token kept with probability keep[id], independently."""
    return stream.take(rng.random(len(stream)) < keep[stream.ids])


def skipgram_pairs(
    stream: WordStream, window: int, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Every (target, context) pair within the window, targets and contexts int32 [pairs].

    Course 5, Week 2 ("Word2Vec"): the context is a word within `window`
    words before or after the target, in the same passage. With `rng` the
    window is *dynamic*, as in word2vec and gensim: each target draws its own
    window size b uniformly from 1..`window`, so near words are sampled more
    often than far ones (distance d with weight (window - d + 1) / window).
    Without `rng` every target uses the full window. Pairs come grouped by
    offset; shuffle them before training.
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a positive integer. Received: window={window!r}")
    ids, passages = stream.ids, stream.passages
    reach = rng.integers(1, window + 1, size=len(ids)) if rng is not None else None
    targets, contexts = [], []
    for d in range(1, min(window, max(len(ids) - 1, 0)) + 1):
        same = passages[:-d] == passages[d:]
        left, right = np.flatnonzero(same), np.flatnonzero(same) + d  # positions i and i + d
        if reach is not None:
            forward, backward = reach[left] >= d, reach[right] >= d  # left sees right; right sees left
            targets += [ids[left[forward]], ids[right[backward]]]
            contexts += [ids[right[forward]], ids[left[backward]]]
        else:
            targets += [ids[left], ids[right]]
            contexts += [ids[right], ids[left]]
    if not targets:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    return np.concatenate(targets).astype(np.int32), np.concatenate(contexts).astype(np.int32)


def skipgram_epoch(
    stream: WordStream, window: int, keep: np.ndarray | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """One epoch of shuffled (target, context) pairs: subsample, dynamic windows, shuffle, all seeded."""
    rng = np.random.default_rng(seed)
    if keep is not None:
        stream = subsample(stream, keep, rng)
    targets, contexts = skipgram_pairs(stream, window, rng)
    order = rng.permutation(len(targets))
    return targets[order], contexts[order]


def skipgram_dataset(
    stream: WordStream,
    window: int,
    batch_size: int,
    *,
    keep: np.ndarray | None = None,
    seed: int = 0,
    steps: int | None = None,
) -> tf.data.Dataset:
    """Batches of int32 pairs [batch_size, 2], (target, context) per row, one epoch per iterator.

    Every iterator (every epoch of `fit`) draws one number from
    `tf.data.Dataset.random(seed, rerandomize_each_iteration=True)` (as
    `pipelines.datasets.index_batches` does) and builds that epoch's pairs
    with `skipgram_epoch`: a new subsample, new dynamic windows, a new order.
    A dataset built again with the same `seed` (under the same global seed,
    which `start_run` sets) repeats the epochs, which `--resume` relies on.

    The subsample makes the number of pairs vary a little from epoch to
    epoch; every epoch has `steps` full batches all the same (default: as
    many as hold the pairs of one epoch drawn with `seed`, measured once
    here), so `fit` knows the epoch's length. An epoch with fewer pairs
    wraps around to its first pairs; one with more leaves its last ones out.
    Each element is one tensor, so `fit` reads it as inputs without labels.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer. Received: batch_size={batch_size!r}")
    if steps is None:
        pairs = len(skipgram_epoch(stream, window, keep, seed)[0])  # also checks window
        if not pairs:
            raise ValueError(f"The stream of {len(stream)} tokens gives no skip-gram pair.")
        steps = -(-pairs // batch_size)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer. Received: steps={steps!r}")
    wanted = steps * batch_size

    def epoch_pairs(pass_seed):
        targets, contexts = skipgram_epoch(stream, window, keep, int(pass_seed) % 2**63)
        if not len(targets):
            raise ValueError(f"An epoch of the stream of {len(stream)} tokens gave no skip-gram pair.")
        pairs = np.stack([targets, contexts], axis=1)
        return np.resize(pairs, (wanted, 2)) if len(pairs) < wanted else pairs[:wanted]

    def one_pass(pass_seed: tf.Tensor) -> tf.data.Dataset:
        pairs = tf.numpy_function(epoch_pairs, [pass_seed], tf.int32, stateful=False)
        pairs = tf.ensure_shape(pairs, [wanted, 2])
        return tf.data.Dataset.range(steps).map(
            lambda step: pairs[step * batch_size : (step + 1) * batch_size]
        )

    passes = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
    return passes.flat_map(one_pass).apply(tf.data.experimental.assert_cardinality(steps)).prefetch(AUTOTUNE)


def cooccurrence_matrix(stream: WordStream, window: int, vocabulary_size: int) -> scipy.sparse.coo_matrix:
    """GloVe's co-occurrence counts X, float64 [V, V] sparse, with 1/distance weighting.

    Pennington et al. 2014 (section 4.2), as GloVe's cooccur.c with its
    default symmetric window: every pair of tokens at distance d <=
    `window` in the same passage adds 1/d to X[i, j] and to X[j, i], so X is
    symmetric. The full window, no subsampling. Duplicates are summed: each
    stored entry is one nonzero X_ij, in row-major order.
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a positive integer. Received: window={window!r}")
    rows, cols, weights = [], [], []
    ids, passages = stream.ids.astype(np.int64), stream.passages
    for d in range(1, window + 1):
        same = np.flatnonzero(passages[:-d] == passages[d:]) if len(ids) > d else np.zeros(0, np.int64)
        rows.append(ids[same])
        cols.append(ids[same + d])
        weights.append(np.full(len(same), 1.0 / d))
    shape = (vocabulary_size, vocabulary_size)
    # One direction (i before j) summed by the CSR constructor, then X + X^T: the symmetric window.
    forward = scipy.sparse.csr_matrix(
        (np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))), shape
    )
    matrix = (forward + forward.T).tocoo()
    matrix.sum_duplicates()
    return matrix
