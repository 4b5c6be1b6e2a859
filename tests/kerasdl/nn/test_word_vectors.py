"""kerasdl.nn.word_vectors: similarity, analogies and the benchmark evaluators, against hand-built answers.

Oracles: vectors built so the answer is known; a per-question brute-force
reference written here (float64, one candidate word at a time) that the
vectorised evaluator must equal section by section; scipy.stats for the
rank correlation; the word2vec text format written out by hand.
"""

import math

import numpy as np
import pytest
from scipy import stats

from kerasdl.nn.word_vectors import WordVectors, read_analogy_questions

# man -> woman and king -> queen differ by the same "gender" offset; apple is unrelated.
HAND = {
    "man": [1.0, 0.0, 0.0, 0.1],
    "woman": [1.0, 1.0, 0.0, 0.1],
    "king": [1.0, 0.0, 1.0, 0.0],
    "queen": [1.0, 1.0, 1.0, 0.0],
    "apple": [0.0, 0.0, 0.1, 1.0],
}


@pytest.fixture(scope="module")
def hand():
    return WordVectors(list(HAND), np.array(list(HAND.values())))


def test_cosine_similarity_of_words_and_vectors(hand):
    assert hand.cosine_similarity([1, 0, 0, 0], [1, 1, 0, 0]) == pytest.approx(1 / math.sqrt(2))
    assert hand.cosine_similarity("man", "man") == pytest.approx(1.0)
    assert hand.cosine_similarity([0, 0, 0, 0], "man") == 0.0  # a zero vector is similar to nothing
    with pytest.raises(KeyError, match="'pear' is not in the vocabulary"):
        hand.vector("pear")


def test_the_lessons_analogy_man_is_to_woman_as_king_is_to_queen(hand):
    answers = hand.analogy("man", "woman", "king", k=2)
    assert answers[0][0] == "queen"
    target = hand.unit_matrix[1] - hand.unit_matrix[0] + hand.unit_matrix[2]
    assert answers[0][1] == pytest.approx(hand.cosine_similarity(target, "queen"))
    # the question words are never answers, even where they are nearer than any other word
    assert {word for word, _ in hand.analogy("man", "woman", "king", k=10)} == {"queen", "apple"}


def test_most_similar_ranks_by_cosine_and_leaves_out_the_word(hand):
    ranked = hand.most_similar("king", k=4)
    expected = sorted(
        ((w, hand.cosine_similarity("king", w)) for w in HAND if w != "king"), key=lambda p: -p[1]
    )
    assert [w for w, _ in ranked] == [w for w, _ in expected]
    np.testing.assert_allclose([s for _, s in ranked], [s for _, s in expected])
    assert [w for w, _ in hand.most_similar("king", k=2, exclude={"queen"})] == [
        expected[1][0],
        expected[2][0],
    ]
    assert hand.most_similar(np.array([0, 0, 0, 1.0]), k=1)[0][0] == "apple"
    assert len(hand.most_similar("king", k=100)) == 4


def test_bad_inputs_are_value_errors():
    with pytest.raises(ValueError, match="words must be unique"):
        WordVectors(["a", "a"], np.zeros((2, 3)))
    with pytest.raises(ValueError, match="matrix must be"):
        WordVectors(["a", "b"], np.zeros((3, 3)))
    with pytest.raises(ValueError, match="finite"):
        WordVectors(["a"], np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="k must be a positive integer"):
        WordVectors(["a", "b"], np.eye(2)).most_similar("a", k=0)


# -- the analogy evaluator ---------------------------------------------------------------------------------

TINY_FILE = """\
: family
man woman king queen
MAN Woman King Queen
man woman king apple
man woman emperor empress
: gram-other
woman man queen king
"""


def test_a_tiny_analogy_file_with_sections_uncovered_questions_and_mixed_case(hand, tmp_path):
    path = tmp_path / "questions.txt"
    path.write_text(TINY_FILE)
    report = hand.evaluate_analogies(path)
    family, other = report.sections
    assert (family.name, family.questions, family.covered, family.correct) == ("family", 4, 3, 2)
    assert family.accuracy == pytest.approx(2 / 3)
    assert (other.name, other.questions, other.covered, other.correct) == ("gram-other", 1, 1, 1)
    assert (report.overall.questions, report.overall.covered, report.overall.correct) == (5, 4, 3)
    assert report.semantic.correct == 2 and report.syntactic.correct == 1  # "gram" sections are syntactic
    assert report.as_dict()["sections"]["family"]["accuracy"] == pytest.approx(2 / 3)
    assert "| overall | 5 | 4 | 3 | 0.750 |" in report.table()
    # restricted to the 3 most frequent words, no question has all four words
    assert hand.evaluate_analogies(path, restrict_vocab=3).overall.covered == 0


def test_a_malformed_analogy_line_names_the_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text(": s\nman woman king\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: an analogy line holds four words"):
        read_analogy_questions(path)


def brute_force_accuracy(words, matrix, sections, restrict_vocab=None):
    """Per section (questions, covered, correct): one question, one candidate word at a time, float64."""
    rows = {}
    for row, word in enumerate(words[:restrict_vocab]):
        rows.setdefault(word.lower(), row)  # the first (most frequent) form of each lowercased word

    def unit(row):
        vector = np.asarray(matrix[row], dtype=np.float64)
        return vector / np.linalg.norm(vector)

    results = []
    for _, questions in sections:
        covered = correct = 0
        for question in questions:
            a, b, c, d = (word.lower() for word in question)
            if not all(word in rows for word in (a, b, c, d)):
                continue
            covered += 1
            target = unit(rows[b]) - unit(rows[a]) + unit(rows[c])
            best, best_similarity = None, -np.inf
            for word, row in rows.items():
                if word in (a, b, c):
                    continue
                similarity = float(np.dot(target, unit(row)) / np.linalg.norm(target))
                if similarity > best_similarity:
                    best, best_similarity = word, similarity
            correct += best == d
        results.append((len(questions), covered, correct))
    return results


def test_the_vectorised_evaluator_equals_a_per_question_reference(tmp_path):
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(150)] + ["W3", "Paris", "paris"]  # later capitalised duplicates
    matrix = rng.normal(size=(len(words), 6))
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    # Plant exact analogies of unit vectors, d = b - a + c: 3CosAdd answers them with cosine 1.
    planted = []
    for i in range(0, 60, 4):
        matrix[i + 3] = matrix[i + 1] - matrix[i] + matrix[i + 2]
        planted.append(tuple(words[i : i + 4]))
    random_questions = [tuple(rng.choice(words, 4, replace=False)) for _ in range(120)]
    uncovered = [("w1", "w2", "absent", "w4"), ("PARIS", "w9", "w10", "w11")]
    lines = [": planted", *map(" ".join, planted), ": random", *map(" ".join, random_questions)]
    lines += [
        ": gram-mixed",
        *(" ".join(q).upper() for q in random_questions[:30]),
        *map(" ".join, uncovered),
    ]
    path = tmp_path / "questions.txt"
    path.write_text("\n".join(lines) + "\n")
    matrix = matrix.astype(np.float32)
    vectors = WordVectors(words, matrix)
    sections = read_analogy_questions(path)
    for restrict_vocab in (None, 100):
        report = vectors.evaluate_analogies(path, restrict_vocab=restrict_vocab, batch_size=16)
        expected = brute_force_accuracy(words, matrix, sections, restrict_vocab)
        assert [(s.questions, s.covered, s.correct) for s in report.sections] == expected
    planted_score = vectors.evaluate_analogies(path).sections[0]
    assert (planted_score.covered, planted_score.correct) == (len(planted), len(planted))


# -- similarity and the word2vec text format ---------------------------------------------------------------


def test_similarity_correlation_is_spearmans_rho_over_the_covered_pairs(tmp_path):
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(30)]
    vectors = WordVectors(words, rng.normal(size=(30, 5)))
    pairs = [(f"w{i}", f"w{i + 1}") for i in range(0, 28, 2)]
    cosines = [vectors.cosine_similarity(a, b) for a, b in pairs]
    ratings = rng.uniform(0, 10, len(pairs))
    text = "# comment\n" + "".join(
        f"{a.upper()}\t{b}\t{r:.6f}\n" for (a, b), r in zip(pairs, ratings, strict=True)
    )
    (tmp_path / "pairs.tsv").write_text(text + "w1\tmissing\t5.0\n")
    report = vectors.similarity_correlation(tmp_path / "pairs.tsv")
    assert (report.pairs, report.covered) == (len(pairs) + 1, len(pairs))
    assert report.rho == pytest.approx(stats.spearmanr(np.round(ratings, 6), cosines).statistic)
    # ratings in the order of the cosines: a perfect rank correlation
    (tmp_path / "ordered.tsv").write_text(
        "".join(f"{a}\t{b}\t{c * 10:.6f}\n" for (a, b), c in zip(pairs, cosines, strict=True))
    )
    assert vectors.similarity_correlation(tmp_path / "ordered.tsv").rho == pytest.approx(1.0)


def test_word2vec_text_round_trip_is_exact_and_the_format_is_the_standard_one(tmp_path):
    rng = np.random.default_rng(0)
    words = ["the", "café", "don't", "<UNK>"]
    matrix = rng.normal(size=(4, 3)).astype(np.float32)
    path = WordVectors(words, matrix).save_word2vec_text(tmp_path / "vectors.txt")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "4 3" and lines[2].split()[0] == "café" and len(lines) == 5
    assert [float(v) for v in lines[1].split()[1:]] == pytest.approx(matrix[0].tolist(), rel=1e-7)
    loaded = WordVectors.load_word2vec_text(path)
    assert loaded.words == tuple(words)
    np.testing.assert_array_equal(loaded.matrix, matrix)
    # what gensim writes: a trailing space after the last number is fine
    (tmp_path / "gensim.txt").write_text("2 2\na 0.5 -1 \nb 1e-3 2\n")
    np.testing.assert_allclose(
        WordVectors.load_word2vec_text(tmp_path / "gensim.txt").matrix, [[0.5, -1], [1e-3, 2]]
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ("x y\n", r"bad.txt:1: the word2vec text format starts with a header 'N D'"),
        ("2 2\na 1 2\nb 1\n", r"bad.txt:3: expected 2 lines of a word and 2 numbers"),
        ("1 2\na 1 2\nb 3 4\n", r"bad.txt:3: .*extra"),
        ("2 2\na 1 2\n", r"the header announces 2 words, the file holds 1"),
        ("1 2\na 1 x\n", r"bad.txt:2: a value is not a number"),
    ],
)
def test_a_bad_word2vec_file_names_the_line(tmp_path, text, message):
    (tmp_path / "bad.txt").write_text(text)
    with pytest.raises(ValueError, match=message):
        WordVectors.load_word2vec_text(tmp_path / "bad.txt")


def test_a_word_with_whitespace_cannot_be_saved(tmp_path):
    with pytest.raises(ValueError, match="cannot hold a word with whitespace. Received: 'new york'"):
        WordVectors(["new york"], np.ones((1, 2))).save_word2vec_text(tmp_path / "v.txt")
