"""kerasdl.training.benchmarking: call counts, alternation and the paired ratio (no timing assertions)."""

import pytest

from kerasdl.training.benchmarking import alternating_blocks, paired_ratio


def test_calls_each_function_warmup_plus_calls_times_repeats():
    calls = {"a": 0, "b": 0}
    order = []

    def counter(name):
        def call():
            calls[name] += 1
            order.append(name)

        return call

    blocks = alternating_blocks({"a": counter("a"), "b": counter("b")}, calls=3, repeats=4, warmup=2)
    assert calls == {"a": 2 + 3 * 4, "b": 2 + 3 * 4}
    assert [len(v) for v in blocks.values()] == [4, 4] and all(t >= 0 for v in blocks.values() for t in v)
    timed = order[4:]  # after the warm-up; blocks of 3 calls, the order flips every repeat
    assert "".join(timed[::3]) == "abbaabba"


def test_paired_ratio_is_the_median_of_blockwise_ratios():
    assert paired_ratio([2.0, 4.0, 30.0], [1.0, 2.0, 3.0]) == pytest.approx(2.0)


@pytest.mark.parametrize("name, value", [("calls", 0), ("repeats", -1), ("calls", 1.5)])
def test_bad_counts(name, value):
    with pytest.raises(ValueError, match=f"{name} must be a positive integer. Received: {name}="):
        alternating_blocks({"a": lambda: None}, **{name: value})


def test_bad_warmup_and_lists():
    with pytest.raises(ValueError, match="warmup must be a non-negative integer. Received: warmup="):
        alternating_blocks({"a": lambda: None}, warmup=-1)
    with pytest.raises(ValueError, match="equally long"):
        paired_ratio([1.0], [1.0, 2.0])
