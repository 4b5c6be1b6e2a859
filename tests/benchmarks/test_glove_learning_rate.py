"""benchmarks/glove_learning_rate.py chooses GloVe's rate on WordSim-353 without opening the analogy set."""

from __future__ import annotations

import builtins
import io
from pathlib import Path

import pytest

from benchmarks import glove_learning_rate
from experiments import embeddings
from kerasdl.nn.word_vectors import WordVectors
from pipelines.sources import data_home

TINY = "--corpus fortunes --min-count 2 --dim 8 --glove-epochs 1 --glove-batch-size 4096"


def test_chooses_the_rate_with_the_best_wordsim_rho_and_never_reads_the_analogies(
    fortunes_all, monkeypatch, capsys, tmp_path
):
    wordsim = data_home() / embeddings.GENSIM_DATA / "wordsim353.tsv"
    if not wordsim.is_file():
        pytest.skip(f"{wordsim} is missing: run `make data`")
    opened, original_open = [], builtins.open

    def recording_open(file, *args, **kwargs):
        opened.append(Path(file).name if isinstance(file, (str, Path)) else file)
        return original_open(file, *args, **kwargs)

    def no_analogies(*args, **kwargs):
        raise AssertionError("the analogies were evaluated")

    monkeypatch.setattr(builtins, "open", recording_open)
    monkeypatch.setattr(io, "open", recording_open)
    monkeypatch.setattr(WordVectors, "evaluate_analogies", no_analogies)
    flags = f"{TINY} --wordsim {wordsim}"
    assert glove_learning_rate.main(["--rates", "0.05,2", "--limit", "600", "--experiment-flags", flags]) == 0
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines() if ": " in line)
    means = {rate: float(lines[f"mean_wordsim_spearman[rate={rate}]"]) for rate in ("0.05", "2")}
    assert float(lines["wordsim_spearman[rate=2,seed=0]"]) == means["2"]  # one seed: the mean is that rho
    assert lines["chosen_learning_rate"] == max(means, key=means.get)
    assert "questions-words.txt" not in opened and "wordsim353.tsv" in opened


def test_bad_rates_are_refused(capsys):
    with pytest.raises(SystemExit):
        glove_learning_rate.main(["--rates", "fast"])
    assert "expected comma-separated numbers; received 'fast'" in capsys.readouterr().err
