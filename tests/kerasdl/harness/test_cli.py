"""kerasdl.harness.cli: the shared flags, their one-line checks, and data that fails in one line."""

import argparse

import numpy as np
import pytest

from kerasdl.harness import cli
from pipelines.sources import ImageSource, SourceMissingError


def one_error_line(capsys, call, *args) -> str:
    """The `error:` line `call(*args)` ends the script with (exit status 2)."""
    with pytest.raises(SystemExit) as exit_info:
        call(*args)
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    return line


class TestSharedFlags:
    def test_one_meaning_and_default_per_flag(self):
        parser = cli.experiment_parser("exp", "doc")
        cli.add_train_test_flags(parser, limit=500, limit_help="training images")
        cli.add_batch_size_flag(parser, 64)
        cli.add_learning_rate_flag(parser, 0.1, optimizer="gradient descent", note="a power of 2")
        cli.add_subset_flag(parser, "--ways", ("a", "b", "c"), default=("b",))
        cli.add_fraction_flag(parser, "--share", 0.25, "share held out")
        args = parser.parse_args([])
        assert (args.limit, args.test_limit, args.train_eval_size, args.data_dir) == (
            500,
            10_000,
            2_000,
            None,
        )
        assert (args.batch_size, args.learning_rate, args.ways, args.share) == (64, 0.1, "b", 0.25)
        text = " ".join(parser.format_help().split())
        assert "learning rate alpha of gradient descent; a power of 2 (default: 0.1)" in text
        assert "comma-separated subset of ('a', 'b', 'c') (default: b)" in text


class TestChecks:
    def args(self, **values):
        return argparse.Namespace(**values)

    def test_at_least_names_the_first_bad_flag_and_lets_unset_ones_pass(self, capsys):
        cli.check_at_least(self.args(epochs=1, limit=None), 1, "epochs", "limit")
        line = one_error_line(
            capsys, cli.check_at_least, self.args(epochs=2, batch_size=0), 1, "epochs", "batch_size"
        )
        assert line == "error: --batch-size must be at least 1; received 0"

    @pytest.mark.parametrize("value", [-0.1, 1.5])
    def test_fractions_are_in_zero_one(self, capsys, value):
        cli.check_fractions(self.args(share=0.0, other=1.0), "share", "other")
        line = one_error_line(capsys, cli.check_fractions, self.args(b_share=value), "b_share")
        assert line == f"error: --b-share must be in [0, 1]; received {value}"

    def test_parse_subset_keeps_the_order_given(self):
        assert cli.parse_subset("--variants", "adam, sgd,,", ("sgd", "adam", "rmsprop")) == ["adam", "sgd"]

    @pytest.mark.parametrize("text", ["adam,nadam", "", ","])
    def test_parse_subset_refuses_anything_else_in_one_line(self, text, capsys):
        line = one_error_line(capsys, cli.parse_subset, "--variants", text, ("sgd", "adam"))
        assert (
            line
            == f"error: --variants must be a comma-separated subset of ('sgd', 'adam'); received {text!r}"
        )


class TestData:
    @pytest.mark.parametrize(
        "error", [SourceMissingError("not here: apt-get install it"), ValueError("too big")]
    )
    def test_a_loader_error_is_one_line(self, capsys, error):
        def load(*args):
            raise error

        assert one_error_line(capsys, cli.load_or_fail, load, "train") == f"error: {error}"

    def test_a_loaded_value_is_returned(self):
        assert cli.load_or_fail(lambda split, data_dir=None: (split, data_dir), "test", data_dir="d") == (
            "test",
            "d",
        )

    def test_first_keeps_the_first_examples(self):
        source = ImageSource(
            name="s",
            images=np.zeros((5, 2, 2, 1), np.uint8),
            labels=np.arange(5),
            ids=np.array([f"s/{i}" for i in range(5)]),
            class_names=tuple("abcde"),
        )
        assert list(cli.first(source, 3).labels) == [0, 1, 2]
        assert cli.first(source, 99) is not source and len(cli.first(source, 99)) == 5
        assert cli.first(source, None) is source
