"""experiments.date_translation: a tiny run writes metrics, curves, maps, tables; survives kills; bad flags.

The tiny runs are real subprocesses on a few hundred generated dates with a small model (seconds of
training, most of the time goes to tracing). The stop/resume test kills a run mid-epoch and again as
the test split starts, resumes it twice and expects the results of an uninterrupted run (slow).
"""

import json
import signal

import keras
import pytest

from experiments import date_translation
from kerasdl.diagnostics.beam_error_analysis import analyse_beam_errors
from kerasdl.harness.run import FINISHED
from pipelines.dates import translation_dataset
from tests.events import tag_events
from tests.runs import run_experiment, run_results, uninterrupted_run

EPOCHS = 2
TINY = ["--train-size", "300", "--dev-size", "40", "--test-size", "40", "--epochs", str(EPOCHS)]
TINY += ["--batch-size", "32", "--train-eval-size", "40", "--encoder-units", "8", "--decoder-units", "16"]
TINY += ["--attention-units", "4", "--embedding-size", "4", "--beam-widths", "1,2", "--alphas", "0,1"]
TINY += ["--other-locales", "fr_FR", "--attention-examples", "3 May 1979|1 March 2001"]
METRICS = {
    "dev_exact_match_greedy",
    "dev_bleu_greedy",
    "dev_exact_match_beam",
    "dev_bleu_beam",
    "beam_width",
    "alpha",
    "search_share_greedy",
    "search_share_beam",
    "test_exact_match_greedy",
    "test_exact_match_beam",
    "test_bleu_beam",
    "test_fr_FR_exact_match_greedy",
    "train_seconds",
}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    return uninterrupted_run("date_translation", tmp_path_factory.mktemp("tiny"), *TINY)


def test_a_tiny_run_writes_metrics_curves_maps_and_tables(tiny_run):
    results = run_results(tiny_run)
    metrics, curves, details = results["metrics"], results["curves"], results["details"]
    assert METRICS <= set(metrics)
    for split in ("train", "dev"):
        for tag in ("loss", "error"):
            assert [step for step, _ in curves[f"model/{split}"][tag]] == [1, 2]
    # The sweep: one line per beam width against 100 alpha, and B = 1 is greedy whatever alpha.
    for width in (1, 2):
        assert [step for step, _ in curves[f"sweep/B{width}"]["exact_match"]] == [0, 100]
    greedy_rows = [row for row in details["sweep"] if row["beam_width"] == 1]
    assert len(greedy_rows) == 2 and len(details["sweep"]) == 4
    for row in greedy_rows:
        assert row["exact_match"] == metrics["dev_exact_match_greedy"]
        assert row["bleu"] == pytest.approx(metrics["dev_bleu_greedy"])
    best = max(row["exact_match"] for row in details["sweep"])
    assert metrics["dev_exact_match_beam"] == best and metrics["beam_width"] in (1, 2)
    # The error analysis: every dev error blamed on one of the two.
    for analysis in details["beam_error_analysis"].values():
        assert analysis["search_errors"] + analysis["model_errors"] == analysis["errors"]
        if analysis["errors"]:
            assert analysis["search_share"] + analysis["model_share"] == pytest.approx(1.0)
    assert (
        round((1 - metrics["dev_exact_match_greedy"]) * 40)
        == details["beam_error_analysis"]["greedy"]["errors"]
    )
    assert set(details["translations"]) == {"3 May 1979", "1 March 2001"}
    # TensorBoard: the attention maps as images, the tables as text.
    for n in (0, 1):
        (image,) = tag_events(tiny_run, f"attention/{n}")
        assert image.tensor_proto.string_val  # an encoded PNG
    assert len(tag_events(tiny_run / "beam_error_analysis", "beam_error_analysis")) == 1
    assert len(tag_events(tiny_run, "translations")) == 1
    summary = (tiny_run / "summary.md").read_text()
    assert "Beam-search error analysis, greedy" in summary and "| test_fr_FR | greedy |" in summary


@pytest.mark.slow
def test_killed_mid_epoch_and_at_the_test_then_resumed_is_an_uninterrupted_run(tiny_run, tmp_path):
    run_dir = tmp_path / "date_translation" / "r"
    killed = run_experiment("date_translation", tmp_path, *TINY, "--run-name", "r", stop="batch:3:SIGKILL")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    killed = run_experiment(
        "date_translation", tmp_path, *TINY, "--run-name", "r", "--resume", stop="start:test:SIGKILL"
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    sweep_phase = json.loads((run_dir / "phases" / "sweep.json").read_text())
    assert sweep_phase["state"] == "done" and not (run_dir / FINISHED).exists()

    resumed = run_experiment("date_translation", tmp_path, *TINY, "--run-name", "r", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads((run_dir / "phases" / "sweep.json").read_text()) == sweep_phase  # not decoded again
    assert [p.name for p in (tmp_path / "date_translation").iterdir()] == ["r"]
    results, reference = run_results(run_dir), run_results(tiny_run)
    assert results["curves"] == reference["curves"]
    for name in ("dev_exact_match_beam", "test_exact_match_greedy", "test_bleu_beam", "search_share_beam"):
        assert results["metrics"][name] == reference["metrics"][name], name


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--beam-widths", "0,3"], "--beam-widths must be comma-separated integers >= 1; received '0,3'"),
        (["--alphas", "0.7,-1"], "--alphas must be comma-separated numbers >= 0; received '0.7,-1'"),
        (["--locales", "en_US,xx_XX"], "Unknown locale 'xx_XX'"),
        (["--direction", "iso_to_human", "--locales", "en_US,fr_FR"], "writes dates in one locale"),
        (["--train-size", "0"], "--train-size must be at least 1; received 0"),
        (["--decay-base", "1.5"], "--decay-base must be in (0, 1]; received 1.5"),
        (["--learning-rate", "-1"], "--learning-rate must be a positive number; received -1.0"),
    ],
)
def test_bad_flags_are_one_error_line(tmp_path, capsys, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        date_translation.main(["--logdir", str(tmp_path), *flags])
    assert exit_info.value.code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0], errors
    assert not (tmp_path / "date_translation").exists()  # refused before a run directory was made


@pytest.mark.slow
def test_on_a_half_trained_model_a_wider_beam_makes_fewer_search_errors_than_greedy():
    """The lesson's error analysis, measured: B = 3 finds outputs the model prefers where greedy misses them.

    A model trained for a few seconds is unsure, so greedy decoding often takes a character whose best
    continuation is less likely than another path's: the errors blamed on the search. A beam of 3 finds
    more of those paths, leaving errors that are the model's.
    """
    flags = ["--train-size", "6000", "--dev-size", "400", "--epochs", "3", "--decay-base", "1"]
    args = date_translation.build_parser().parse_args(flags)
    settings = date_translation.check_flags(args)
    keras.utils.set_random_seed(0)
    data = date_translation.prepare_data(args, settings)
    train = translation_dataset(data.sources("train"), data.targets("train"), args.batch_size, shuffle=True)
    model = date_translation.compile_model(
        date_translation.build_model(args, data.source_vocabulary.size, data.target_vocabulary.size),
        args,
        int(train.cardinality()),
    )
    model.fit(train, epochs=args.epochs, shuffle=False, verbose=0)
    translator = date_translation.Translator(model, data.max_output_length)
    source, references = data.sources("dev"), date_translation.target_tokens(data.targets("dev"))
    reference_log_probs = translator.log_probabilities(source, references)
    greedy = translator.greedy(source)
    beam = [date_translation.best(candidates, 0.7) for candidates in translator.beam(source, 3)]

    def analysis(outputs, alpha):
        return analyse_beam_errors(
            references,
            [h.tokens if h.finished else (*h.tokens, "unfinished") for h in outputs],
            reference_log_probs,
            [h.log_probability for h in outputs],
            [len(r) + 1 for r in references],
            [h.length for h in outputs],
            alpha,
        )

    greedy_analysis, beam_analysis = analysis(greedy, 0.0), analysis(beam, 0.7)
    assert 0.1 < 1 - greedy_analysis.errors / 400 < 0.9  # half trained: errors of both kinds to count
    assert beam_analysis.errors < greedy_analysis.errors
    assert greedy_analysis.search_errors >= 5  # measured: 12 of 134 errors (seed 0); B = 3: 0 of 126
    assert beam_analysis.search_errors < greedy_analysis.search_errors / 2
    assert beam_analysis.search_share < greedy_analysis.search_share
