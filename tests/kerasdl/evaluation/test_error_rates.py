"""kerasdl.evaluation.error_rates against TensorFlow's `tf.edit_distance` and the textbook cases."""

import numpy as np
import pytest
import tensorflow as tf

from kerasdl.evaluation.error_rates import character_error_rate, edit_distance, word_error_rate


def tensorflow_distance(output: str, reference: str) -> int:
    def sparse(text):
        indices = [[0, i] for i in range(len(text))] or np.zeros((0, 2), "int64")
        return tf.SparseTensor(
            indices, [ord(c) for c in text] or np.zeros(0, "int32"), [1, max(len(text), 1)]
        )

    return int(tf.edit_distance(sparse(output), sparse(reference), normalize=False).numpy()[0])


def test_edit_distance_equals_tensorflow_on_random_strings():
    rng = np.random.default_rng(0)
    for _ in range(150):
        a = "".join(rng.choice(list("abc "), size=rng.integers(0, 9)))
        b = "".join(rng.choice(list("abc "), size=rng.integers(1, 9)))
        assert edit_distance(a, b) == tensorflow_distance(a, b), (a, b)


@pytest.mark.parametrize(
    "output, reference, distance",
    [("kitten", "sitting", 3), ("", "abc", 3), ("abc", "", 3), ("abc", "abc", 0), ("ab", "ba", 2)],
)
def test_textbook_distances(output, reference, distance):
    assert edit_distance(output, reference) == distance


def test_error_rates_sum_over_the_corpus():
    outputs, references = ["the cat", "a dog sat"], ["the cat", "the dog sat down"]
    # characters: 0 + ("a" -> "the": 1 substitution + 2 insertions, + " down": 5 insertions) = 8 over 23
    assert character_error_rate(outputs, references) == pytest.approx(8 / 23)
    # words: 0 + ("a" -> "the", + "down") = 2 over 6
    assert word_error_rate(outputs, references) == pytest.approx(2 / 6)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: character_error_rate(["a"], []), "Give one reference per output"),
        (lambda: character_error_rate([""], [""]), "The references are empty"),
    ],
)
def test_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()
