"""kerasdl.evaluation.bleu against sacrebleu 2 (the oracle) on random corpora, and the lesson's examples.

Settings matched on both sides: tokenize "none" (whitespace) or "char", the same smoothing method and
value, the same effective_order. Scores agree within 1e-6 BLEU points (sacrebleu's 0-100 scale).
"""

import numpy as np
import pytest
from sacrebleu.metrics import BLEU

from kerasdl.evaluation.bleu import corpus_bleu, sentence_bleu

WORDS = "the cat dog is on a mat sat there big".split()
SMOOTHING = ["none", "floor", "add-k", "exp"]
TOLERANCE = 1e-6


def random_sentence(rng, longest=12) -> str:
    return " ".join(rng.choice(WORDS, size=rng.integers(0, longest + 1)))


def edited(rng, sentence: str) -> str:
    """The sentence with a few words replaced, dropped or added: an output that shares long n-grams."""
    words = []
    for word in sentence.split():
        roll = rng.random()
        if roll < 0.15:
            words.append(str(rng.choice(WORDS)))
        elif roll < 0.25:
            continue
        else:
            words.append(word)
        if rng.random() < 0.1:
            words.append(str(rng.choice(WORDS)))
    return " ".join(words)


def random_corpus(seed: int, sentences: int, references: int):
    """Outputs and, for each, `references` references; most outputs are edited references."""
    rng = np.random.default_rng(seed)
    refs = [[random_sentence(rng) for _ in range(references)] for _ in range(sentences)]
    outputs = [edited(rng, r[0]) if rng.random() < 0.8 else random_sentence(rng) for r in refs]
    return outputs, refs


def sacrebleu_metric(tokenize, smoothing, effective_order, smoothing_value=None) -> BLEU:
    return BLEU(
        tokenize=tokenize,
        smooth_method=smoothing,
        smooth_value=smoothing_value,
        effective_order=effective_order,
    )


@pytest.mark.parametrize("tokenize", ["none", "char"])
@pytest.mark.parametrize("smoothing", SMOOTHING)
@pytest.mark.parametrize("references", [1, 3])
def test_corpus_bleu_equals_sacrebleu(tokenize, smoothing, references):
    metric = sacrebleu_metric(tokenize, smoothing, effective_order=False)
    for seed in range(15):
        outputs, refs = random_corpus(seed, sentences=1 + seed % 6, references=references)
        ours = corpus_bleu(outputs, refs, tokenize=tokenize, smoothing=smoothing)
        theirs = metric.corpus_score(outputs, [list(stream) for stream in zip(*refs, strict=True)])
        assert ours.score == pytest.approx(theirs.score, abs=TOLERANCE), (seed, outputs, refs)
        assert ours.brevity_penalty == pytest.approx(theirs.bp, abs=1e-12)
        assert (ours.output_length, ours.reference_length) == (theirs.sys_len, theirs.ref_len)
        if theirs.score > 0:  # sacrebleu stops filling its precisions when nothing matches
            assert ours.precisions == pytest.approx(theirs.precisions, abs=TOLERANCE)


@pytest.mark.parametrize("tokenize", ["none", "char"])
@pytest.mark.parametrize("smoothing", SMOOTHING)
@pytest.mark.parametrize("effective_order", [True, False])
def test_sentence_bleu_equals_sacrebleu(tokenize, smoothing, effective_order):
    metric = sacrebleu_metric(tokenize, smoothing, effective_order)
    rng = np.random.default_rng(100)
    for _ in range(40):
        refs = [random_sentence(rng, longest=8) for _ in range(rng.integers(1, 4))]
        output = edited(rng, refs[0]) if rng.random() < 0.7 else random_sentence(rng, longest=3)
        ours = sentence_bleu(output, refs, tokenize, smoothing, effective_order=effective_order)
        assert ours.score == pytest.approx(metric.sentence_score(output, refs).score, abs=TOLERANCE), (
            output,
            refs,
        )


@pytest.mark.parametrize("smoothing, value", [("floor", 0.3), ("add-k", 2.0)])
def test_smoothing_values_equal_sacrebleu(smoothing, value):
    metric = sacrebleu_metric("none", smoothing, effective_order=True, smoothing_value=value)
    rng = np.random.default_rng(7)
    for _ in range(30):
        output, refs = random_sentence(rng, 7), [random_sentence(rng, 9)]
        ours = sentence_bleu(output, refs, smoothing=smoothing, smoothing_value=value)
        assert ours.score == pytest.approx(metric.sentence_score(output, refs).score, abs=TOLERANCE)


def test_real_sentences_equal_sacrebleu():
    outputs = ["the cat is on the mat", "there is a cat on the mat", "a cat sat on a big mat today"]
    refs = [["the cat is on the mat", "there is a cat on the mat"]] * 3
    theirs = sacrebleu_metric("none", "exp", False).corpus_score(
        outputs, [list(s) for s in zip(*refs, strict=True)]
    )
    assert corpus_bleu(outputs, refs).score == pytest.approx(theirs.score, abs=TOLERANCE)


class TestTheLessonsExamples:
    REFERENCES = ["the cat is on the mat", "there is a cat on the mat"]

    def test_unigram_precision_is_clipped_by_the_most_a_reference_holds(self):
        # "the" 7 times; at most 2 times in one reference: p_1 = 2/7.
        score = corpus_bleu(["the the the the the the the"], [self.REFERENCES], smoothing="none")
        assert score.matches[0] == 2 and score.totals[0] == 7
        assert score.precisions[0] == pytest.approx(100 * 2 / 7)

    def test_bigram_precision(self):
        # "the cat" (twice, clipped to 1), "cat the" (0), "cat on", "on the", "the mat": 4 of 6.
        score = corpus_bleu(["the cat the cat on the mat"], [self.REFERENCES], smoothing="none")
        assert (score.matches[1], score.totals[1]) == (4, 6)

    def test_brevity_penalty(self):
        score = corpus_bleu(["the cat"], [["the cat is on the mat"]], smoothing="none", max_order=2)
        assert score.brevity_penalty == pytest.approx(np.exp(1 - 6 / 2))
        assert score.score == pytest.approx(100 * np.exp(1 - 6 / 2))  # both precisions are 1

    def test_a_perfect_output_scores_100(self):
        assert sentence_bleu("the cat is on the mat", self.REFERENCES).score == pytest.approx(100.0)

    def test_corpus_bleu_is_not_the_mean_of_sentence_bleu(self):
        outputs = ["the cat is on the mat", "a"]
        refs = [["the cat is on the mat"], ["there is a cat"]]
        corpus = corpus_bleu(outputs, refs).score
        mean = np.mean([sentence_bleu(o, r).score for o, r in zip(outputs, refs, strict=True)])
        assert corpus != pytest.approx(mean, abs=1.0)


def test_character_tokens_ignore_spaces():
    # Dates are scored by characters: "1979-05-03" against "1979-05-30" shares most character n-grams.
    score = sentence_bleu("1979-05-03", ["1979-05-30"], tokenize="char")
    assert score.output_length == 10 and 0 < score.score < 100
    assert sentence_bleu("1 9 7 9", ["1979"], tokenize="char").score == pytest.approx(100.0)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: corpus_bleu(["a"], [["a"], ["b"]]), "Give each output its references"),
        (lambda: corpus_bleu(["a"], [[]]), "Each output needs at least one reference"),
        (lambda: corpus_bleu(["a"], [["a"]], tokenize="13a"), "tokenize must be one of"),
        (lambda: corpus_bleu(["a"], [["a"]], smoothing="add-one"), "smoothing must be one of"),
    ],
)
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
