"""Word vectors as one matrix: similarity, analogies, and the standard benchmarks they are judged by.

Course 5, Week 2, "Properties of word embeddings": a word embedding puts
each word w at a vector e_w, and what the words have in common shows as
geometry. Similarity is the cosine of the angle between two vectors,

    sim(u, v) = u . v / (||u|| ||v||),

and an analogy "a is to b as c is to ?" ("man is to woman as king is to
?") is answered by the word whose vector is nearest e_c - e_a + e_b
(Mikolov et al. 2013, "Linguistic regularities in continuous space word
representations"):

    d = argmax_{w not in {a, b, c}} sim(e_w, e_b - e_a + e_c).

`WordVectors.analogy` computes it on unit-normalised vectors, e^ = e / ||e||
(the "3CosAdd" of Levy and Goldberg 2014), and leaves the three question
words out of the answers, as gensim's `most_similar(positive=[b, c],
negative=[a])` and `evaluate_word_analogies` do (without that rule the
answer would mostly be b or c themselves).

Two benchmarks judge embeddings offline (the files ship in gensim 4.3.3's
wheel; `pipelines.sources.data_home() / "gensim-4.3.3"` holds them, and
callers pass the path, since this library reads no input pipeline):

- `evaluate_analogies`: Mikolov et al.'s Google analogy set,
  `questions-words.txt`, 19,544 questions in 14 sections (": section"
  lines, then "a b c d" lines), case-insensitive. A question counts only
  when all four words are in the vocabulary ("covered"); accuracy is over
  the covered questions, per section and overall, and, as in Mikolov et
  al., over the semantic sections and the syntactic ones ("gram...").
  The questions go through in batches, each a matrix product with the
  whole vocabulary.
- `similarity_correlation`: Spearman's rank correlation between the
  cosine similarities and human ratings of word pairs (WordSim-353,
  `wordsim353.tsv`; SimLex-999, `simlex999.txt`).

NumPy does the work: this is evaluation of a trained matrix, nothing is
differentiated, so the vectors can come from any Keras backend
(`keras.ops.convert_to_numpy(embedding_layer.embeddings)`).

Example:

    >>> import numpy as np
    >>> words = ["man", "woman", "king", "queen"]
    >>> matrix = np.array([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    >>> WordVectors(words, matrix).analogy("man", "woman", "king")[0][0]
    'queen'
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Scores of one batch of questions against every candidate word: at most this many floats (128 MB).
_BATCH_FLOATS = 2**25


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its norm; a zero row stays zero (it is similar to nothing)."""
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1)


@dataclass(frozen=True)
class AnalogyScore:
    """The analogy questions of one section (or of several together).

    Attributes:
        name: the section, e.g. "capital-common-countries", or "overall".
        questions: questions in the file.
        covered: questions whose four words are all in the vocabulary.
        correct: covered questions answered with the expected word.
    """

    name: str
    questions: int
    covered: int
    correct: int

    @property
    def accuracy(self) -> float | None:
        """correct / covered; None when no question is covered."""
        return self.correct / self.covered if self.covered else None

    @property
    def coverage(self) -> float | None:
        """covered / questions; None for an empty section."""
        return self.covered / self.questions if self.questions else None

    def as_dict(self) -> dict:
        return {
            "questions": self.questions,
            "covered": self.covered,
            "correct": self.correct,
            "accuracy": self.accuracy,
        }


def _total(name: str, scores: Iterable[AnalogyScore]) -> AnalogyScore:
    scores = list(scores)
    return AnalogyScore(
        name,
        sum(s.questions for s in scores),
        sum(s.covered for s in scores),
        sum(s.correct for s in scores),
    )


@dataclass(frozen=True)
class AnalogyReport:
    """What `WordVectors.evaluate_analogies` found, per section and in total.

    Attributes:
        sections: one `AnalogyScore` per section, in the file's order.
        restrict_vocab: the number of most frequent words questions and
            answers were limited to (None: the whole vocabulary).
    """

    sections: tuple[AnalogyScore, ...]
    restrict_vocab: int | None = None

    @property
    def overall(self) -> AnalogyScore:
        return _total("overall", self.sections)

    @property
    def semantic(self) -> AnalogyScore:
        """The sections of meaning (capitals, currencies, family, ...): names not starting with "gram"."""
        return _total("semantic", (s for s in self.sections if not s.name.startswith("gram")))

    @property
    def syntactic(self) -> AnalogyScore:
        """The sections of grammar ("gram1-adjective-to-adverb", ...)."""
        return _total("syntactic", (s for s in self.sections if s.name.startswith("gram")))

    def as_dict(self) -> dict:
        """JSON: {"overall": {...}, "semantic": {...}, "syntactic": {...}, "sections": {name: {...}}}."""
        return {
            "overall": self.overall.as_dict(),
            "semantic": self.semantic.as_dict(),
            "syntactic": self.syntactic.as_dict(),
            "sections": {s.name: s.as_dict() for s in self.sections},
            "restrict_vocab": self.restrict_vocab,
        }

    def table(self) -> str:
        """A Markdown table: every section, then the semantic, syntactic and overall totals."""
        lines = ["| section | questions | covered | correct | accuracy |", "|---|---:|---:|---:|---:|"]
        for score in (*self.sections, self.semantic, self.syntactic, self.overall):
            accuracy = "-" if score.accuracy is None else f"{score.accuracy:.3f}"
            lines.append(
                f"| {score.name} | {score.questions:,} | {score.covered:,} | {score.correct:,} | {accuracy} |"
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class SimilarityReport:
    """Spearman's rho between cosine similarities and human ratings of word pairs.

    Attributes:
        rho: the rank correlation over the covered pairs (None below 2 pairs).
        pairs: pairs in the file.
        covered: pairs with both words in the vocabulary.
    """

    rho: float | None
    pairs: int
    covered: int

    def as_dict(self) -> dict:
        return {"spearman_rho": self.rho, "pairs": self.pairs, "covered": self.covered}


def read_analogy_questions(path: str | os.PathLike) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """The sections of an analogy file in the Google format, lowercased: [(section, [(a, b, c, d), ...])].

    Raises:
        ValueError: a line is neither ": section" nor four words, naming the line.
    """
    sections: list[tuple[str, list[tuple[str, str, str, str]]]] = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line:
                continue
            if line.startswith(":"):
                sections.append((line[1:].strip(), []))
                continue
            words = line.lower().split()
            if len(words) != 4:
                raise ValueError(
                    f"{path}:{number}: an analogy line holds four words 'a b c d' (a is to b as c is to d). "
                    f"Received: {line!r}"
                )
            if not sections:
                sections.append(("questions", []))
            sections[-1][1].append(tuple(words))
    return sections


def read_word_pairs(path: str | os.PathLike) -> list[tuple[str, str, float]]:
    """Human-rated word pairs, "w1<TAB>w2<TAB>rating" per line, '#' lines skipped; words lowercased."""
    pairs = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = line.split("\t") if "\t" in line else line.split()
            try:
                first, second, rating = fields[0].strip(), fields[1].strip(), float(fields[2])
            except (IndexError, ValueError):
                raise ValueError(
                    f"{path}:{number}: expected 'word1<TAB>word2<TAB>rating'. Received: {line.rstrip()!r}"
                ) from None
            pairs.append((first.lower(), second.lower(), rating))
    return pairs


class WordVectors:
    """A vocabulary and its vectors, row i of `matrix` being the vector of `words[i]`.

    Args:
        words: the words, unique, in the matrix's row order (most frequent
            first, for `restrict_vocab` to mean "the most frequent words").
        matrix: [len(words), dimension], finite. Kept as given when it is a
            float array, converted to float32 otherwise.

    Lookups are case-sensitive (`vector`, `most_similar`, `analogy`); the
    benchmark files are read case-insensitively (see `evaluate_analogies`).
    """

    def __init__(self, words: Sequence[str], matrix):
        words = tuple(words)
        matrix = np.asarray(matrix)
        if not np.issubdtype(matrix.dtype, np.floating):
            matrix = matrix.astype(np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != len(words):
            raise ValueError(
                f"matrix must be [len(words), dimension]. Received: {len(words)} words, shape={matrix.shape}"
            )
        if not np.all(np.isfinite(matrix)):
            raise ValueError("matrix must be finite. Received: a matrix with NaN or infinite values")
        index = {}
        for i, word in enumerate(words):
            if not isinstance(word, str) or not word:
                raise ValueError(f"words must be non-empty strings. Received: {word!r} at row {i}")
            if word in index:
                raise ValueError(f"words must be unique. Received: {word!r} at rows {index[word]} and {i}")
            index[word] = i
        self.words = words
        self.matrix = matrix
        self.index = index
        self._unit: np.ndarray | None = None

    # -- lookups -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    @property
    def dimension(self) -> int:
        return self.matrix.shape[1]

    @property
    def unit_matrix(self) -> np.ndarray:
        """Every row divided by its norm (zero rows stay zero); computed once."""
        if self._unit is None:
            self._unit = _unit_rows(self.matrix)
        return self._unit

    def vector(self, word: str) -> np.ndarray:
        """e_word; a KeyError naming the word when it is not in the vocabulary."""
        try:
            return self.matrix[self.index[word]]
        except KeyError:
            raise KeyError(f"{word!r} is not in the vocabulary of {len(self.words):,} words") from None

    def _as_vector(self, word_or_vector) -> np.ndarray:
        if isinstance(word_or_vector, str):
            return self.vector(word_or_vector)
        vector = np.asarray(word_or_vector, dtype=np.float64)
        if vector.shape != (self.dimension,):
            raise ValueError(f"a vector must have shape ({self.dimension},). Received: shape={vector.shape}")
        return vector

    def cosine_similarity(self, u, v) -> float:
        """sim(u, v) = u . v / (||u|| ||v||) of two words or vectors (0 when either is zero)."""
        u, v = self._as_vector(u), self._as_vector(v)
        norms = float(np.linalg.norm(u) * np.linalg.norm(v))
        return float(np.dot(u, v) / norms) if norms > 0 else 0.0

    def normalized(self) -> WordVectors:
        """The same words with unit-length vectors (e / ||e||), as Bolukbasi et al. work with them."""
        return WordVectors(self.words, self.unit_matrix.copy())

    # -- neighbours and analogies --------------------------------------------------------------

    def _top(self, target: np.ndarray, k: int, exclude: Iterable[str]) -> list[tuple[str, float]]:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer. Received: k={k!r}")
        norm = np.linalg.norm(target)
        scores = self.unit_matrix @ (target / norm if norm > 0 else target)
        scores = scores.astype(np.float64)
        excluded = [self.index[word] for word in exclude if word in self.index]
        scores[excluded] = -np.inf
        k = min(k, len(self.words) - len(set(excluded)))
        if k < 1:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]  # by similarity, ties by row
        return [(self.words[i], float(scores[i])) for i in top]

    def most_similar(
        self, word_or_vector, k: int = 10, exclude: Iterable[str] = ()
    ) -> list[tuple[str, float]]:
        """The `k` words of highest cosine similarity to a word (itself left out) or a vector.

        Returns:
            [(word, similarity), ...], most similar first.
        """
        exclude = set(exclude)
        if isinstance(word_or_vector, str):
            exclude.add(word_or_vector)
        return self._top(self._as_vector(word_or_vector), k, exclude)

    def analogy(self, a: str, b: str, c: str, k: int = 1) -> list[tuple[str, float]]:
        """ "a is to b as c is to ?": the `k` words nearest e^_b - e^_a + e^_c, leaving out a, b and c.

        3CosAdd over unit-normalised vectors e^ = e / ||e|| (module docstring).

        Returns:
            [(word, cosine similarity to e^_b - e^_a + e^_c), ...], best first.
        """
        unit = self.unit_matrix
        target = unit[self._row(b)] - unit[self._row(a)] + unit[self._row(c)]
        return self._top(target, k, {a, b, c})

    def _row(self, word: str) -> int:
        if word not in self.index:
            raise KeyError(f"{word!r} is not in the vocabulary of {len(self.words):,} words")
        return self.index[word]

    # -- benchmarks ------------------------------------------------------------------------------

    def _lowercase_rows(self, restrict_vocab: int | None) -> dict[str, int]:
        """lowercased word -> its first row among the first `restrict_vocab` rows (the most frequent form)."""
        if restrict_vocab is not None and (isinstance(restrict_vocab, bool) or restrict_vocab < 1):
            raise ValueError(
                f"restrict_vocab must be a positive integer or None. Received: {restrict_vocab!r}"
            )
        rows: dict[str, int] = {}
        for row, word in enumerate(self.words[:restrict_vocab]):
            rows.setdefault(word.lower(), row)
        return rows

    def evaluate_analogies(
        self, path: str | os.PathLike, restrict_vocab: int | None = None, batch_size: int | None = None
    ) -> AnalogyReport:
        """Accuracy on an analogy file in the Google format, per section and overall.

        Case-insensitive: question words are lowercased and matched with the
        lowercased vocabulary; a word the vocabulary holds in several cases
        counts once, by its first (most frequent) row, and only those rows
        are candidate answers. A question is covered when its four words
        are among the first `restrict_vocab` words (all by default, gensim's
        `restrict_vocab`); its answer is `analogy(a, b, c)` over those
        words, and it is correct when that is d.

        Args:
            path: the analogy file, e.g. gensim's `questions-words.txt`.
            restrict_vocab: only the first N words (the most frequent when
                the vocabulary is sorted by count) ask and answer questions.
            batch_size: questions scored per matrix product (default: as
                many as keep the scores within 128 MB).
        """
        rows = self._lowercase_rows(restrict_vocab)
        candidates = np.fromiter(rows.values(), dtype=np.int64, count=len(rows))
        position = {word: i for i, word in enumerate(rows)}  # lowercased word -> column among the candidates
        unit = self.unit_matrix[candidates]
        batch_size = batch_size or max(1, _BATCH_FLOATS // max(1, len(candidates)))
        scores = []
        for name, questions in read_analogy_questions(path):
            covered = np.array(
                [
                    [position[w] for w in question]
                    for question in questions
                    if all(w in position for w in question)
                ],
                dtype=np.int64,
            ).reshape(-1, 4)
            correct = 0
            for start in range(0, len(covered), batch_size):
                a, b, c, d = covered[start : start + batch_size].T
                similarity = (unit[b] - unit[a] + unit[c]) @ unit.T  # the norm of the target ranks nothing
                answered = np.arange(len(a))
                for question_words in (a, b, c):
                    similarity[answered, question_words] = -np.inf
                correct += int(np.sum(np.argmax(similarity, axis=1) == d))
            scores.append(AnalogyScore(name, len(questions), len(covered), correct))
        return AnalogyReport(tuple(scores), restrict_vocab)

    def similarity_correlation(self, path: str | os.PathLike) -> SimilarityReport:
        """Spearman's rho between cosine similarity and the human ratings of a word-pair file.

        The file has "word1<TAB>word2<TAB>rating" lines ('#' lines are
        comments), like WordSim-353 and SimLex-999; words are matched
        case-insensitively, and only pairs with both words in the
        vocabulary count.
        """
        from scipy.stats import spearmanr

        rows = self._lowercase_rows(None)
        pairs = read_word_pairs(path)
        covered = [(rows[a], rows[b], rating) for a, b, rating in pairs if a in rows and b in rows]
        rho = None
        if len(covered) >= 2:
            first, second, ratings = (np.array(column) for column in zip(*covered, strict=True))
            unit = self.unit_matrix
            cosines = np.sum(unit[first] * unit[second], axis=1)
            value = float(spearmanr(ratings, cosines).statistic)
            rho = None if math.isnan(value) else value
        return SimilarityReport(rho, len(pairs), len(covered))

    # -- the word2vec text format --------------------------------------------------------------------

    def save_word2vec_text(self, path: str | os.PathLike) -> Path:
        """Writes the word2vec text format: a header "N D", then "word v1 ... vD" per line (UTF-8).

        Values are written with 9 significant digits, so float32 vectors read
        back exactly. Words with whitespace cannot be written in this format:
        a ValueError names the first one.
        """
        bad = next((word for word in self.words if len(word.split()) != 1 or word != word.strip()), None)
        if bad is not None:
            raise ValueError(
                f"the word2vec text format cannot hold a word with whitespace. Received: {bad!r}"
            )
        path = Path(path)
        with open(path, "w", encoding="utf-8") as file:
            file.write(f"{len(self.words)} {self.dimension}\n")
            for word, row in zip(self.words, self.matrix, strict=True):
                file.write(word + " " + " ".join(f"{value:.9g}" for value in row.tolist()) + "\n")
        return path

    @classmethod
    def load_word2vec_text(cls, path: str | os.PathLike, dtype=np.float32) -> WordVectors:
        """Reads the word2vec text format (`save_word2vec_text`; gensim's `save_word2vec_format` as text).

        Raises:
            FileNotFoundError: no such file.
            ValueError: a bad header, or a line without exactly D numbers, naming the line.
        """
        with open(path, encoding="utf-8") as lines:
            header = lines.readline().split()
            try:
                count, dimension = int(header[0]), int(header[1])
            except (IndexError, ValueError):
                raise ValueError(
                    f"{path}:1: the word2vec text format starts with a header 'N D'. Received: {header!r}"
                ) from None
            words, matrix = [], np.empty((count, dimension), dtype=dtype)
            for number, line in enumerate(lines, 2):
                if not line.strip():
                    continue
                fields = line.rstrip().split(" ")
                if len(words) == count or len(fields) != dimension + 1:
                    raise ValueError(
                        f"{path}:{number}: expected {count} lines of a word and {dimension} numbers. "
                        f"Received: {len(fields) - 1} numbers after {fields[0]!r}"
                        + (f" (line {count + 2} and after are extra)" if len(words) == count else "")
                    )
                try:
                    matrix[len(words)] = np.asarray(fields[1:], dtype=np.float64)
                except ValueError:
                    raise ValueError(
                        f"{path}:{number}: a value is not a number. Received: {line[:80]!r}"
                    ) from None
                words.append(fields[0])
        if len(words) != count:
            raise ValueError(f"{path}: the header announces {count} words, the file holds {len(words)}")
        return cls(words, matrix)
