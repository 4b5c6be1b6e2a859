import pytest

from kerasdl.diagnostics import decompose


class TestLessonTables:
    """Course 3, Week 1 and Week 2 worked examples."""

    def test_focus_on_bias(self):  # human 1%, train 8%, dev 10%
        d = decompose(human=0.01, train=0.08, dev=0.10)
        assert d.avoidable_bias == pytest.approx(0.07) and d.variance == pytest.approx(0.02)
        rec = d.recommendation()
        assert rec.focus == "avoidable_bias" and "train a bigger model" in rec.actions

    def test_focus_on_variance(self):  # human 7.5%, train 8%, dev 10%
        d = decompose(human=0.075, train=0.08, dev=0.10)
        assert d.avoidable_bias == pytest.approx(0.005) and d.variance == pytest.approx(0.02)
        rec = d.recommendation()
        assert rec.focus == "variance" and any("regularize" in a for a in rec.actions)

    @pytest.mark.parametrize(
        "train, train_dev, dev, focus",
        [
            (0.01, 0.09, 0.10, "variance"),  # the lesson's variance problem
            (0.01, 0.015, 0.10, "data_mismatch"),  # the lesson's data mismatch problem
            (0.10, 0.11, 0.12, "avoidable_bias"),  # the lesson's bias problem
            (0.10, 0.11, 0.20, "avoidable_bias"),  # bias and data mismatch
        ],
    )
    def test_mismatched_distributions_with_train_dev(self, train, train_dev, dev, focus):
        d = decompose(human=0.0, train=train, dev=dev, train_dev=train_dev)
        assert d.variance == pytest.approx(train_dev - train)
        assert d.data_mismatch == pytest.approx(dev - train_dev)
        assert d.recommendation().focus == focus

    def test_bias_and_mismatch_both_flagged(self):
        rec = decompose(human=0.0, train=0.10, dev=0.20, train_dev=0.11).recommendation()
        assert rec.also == ("data_mismatch",)
        assert any(
            "synthesis" in a for a in decompose(0.0, 0.01, 0.10, train_dev=0.015).recommendation().actions
        )

    def test_overfitting_to_dev_asks_for_a_bigger_dev_set(self):
        rec = decompose(human=0.01, train=0.02, dev=0.03, train_dev=0.025, test=0.08).recommendation()
        assert rec.focus == "dev_overfitting" and rec.actions == ("get a bigger dev set",)

    def test_surpassed_human_level(self):
        d = decompose(human=0.05, train=0.03, dev=0.06, train_dev=0.035)
        rec = d.recommendation()
        assert d.surpassed_human and rec.surpassed_human
        assert (
            rec.focus == "data_mismatch"
        )  # a negative avoidable bias never wins nor is reported as a gap to close
        assert "below human-level" in rec.rationale
        assert any("Bayes error" in a for a in rec.actions)

    def test_no_gap(self):
        assert decompose(human=0.05, train=0.05, dev=0.05).recommendation().focus == "none"

    def test_rejects_percentages(self):
        with pytest.raises(ValueError, match="Received: dev=10"):
            decompose(human=0.01, train=0.08, dev=10)

    def test_markdown_shows_numbers(self):
        text = decompose(human=0.01, train=0.08, dev=0.10, train_dev=0.09, test=0.11).to_markdown()
        assert "| avoidable bias | 7.00% |" in text and "| overfitting to the dev set | 1.00% |" in text
