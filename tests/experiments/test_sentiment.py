"""experiments.sentiment: both models mask padding, take pretrained vectors, beat the baseline, resume.

Oracles: the averaged model recomputed in NumPy from its own weights; the
same sentence with and without padding (the mask must make them equal); a
word2vec file written with `WordVectors` whose vectors must land in the
embedding. The end-to-end runs are real subprocesses on a few hundred
sentences with tiny models; one is killed mid-epoch (SIGKILL) and resumed,
and must end where an uninterrupted run ends.
"""

import json
import signal
from types import SimpleNamespace

import keras
import numpy as np
import pytest

from experiments import sentiment
from kerasdl.harness.results import read_results
from kerasdl.harness.run import FINISHED
from kerasdl.nn.word_vectors import WordVectors
from pipelines.sentiment import BINARY_CLASSES
from pipelines.words import WordVocabulary
from tests.conftest import offline_dataset
from tests.runs import run_experiment

EPOCHS = 2
TINY = [
    "--limit",
    "300",
    "--units",
    "4",
    "--embedding-size",
    "4",
    "--max-length",
    "8",
    "--epochs",
    str(EPOCHS),
]
TINY += ["--batch-size", "32", "--train-eval-size", "64", "--models", "lstm,average"]


@pytest.fixture(scope="module")
def vader_all():
    from pipelines.sentiment import vader

    return offline_dataset(vader)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, vader_all):
    logdir = tmp_path_factory.mktemp("straight")
    result = run_experiment("sentiment", logdir, *TINY, "--run-name", "straight")
    assert result.returncode == 0, result.stderr[-3000:]
    return logdir / "sentiment" / "straight"


def test_a_tiny_run_writes_accuracies_beside_the_baseline(uninterrupted):
    results = read_results(uninterrupted)
    metrics, curves = results["metrics"], results["curves"]
    for model in ("average", "lstm"):
        assert [step for step, _ in curves[f"{model}/dev"]["error"]] == [1, 2]
        assert metrics[f"{model}/dev_accuracy"] == pytest.approx(1 - curves[f"{model}/dev"]["error"][-1][1])
        assert curves[f"{model}/test"]["error"] == [
            [EPOCHS, pytest.approx(1 - metrics[f"{model}/test_accuracy"])]
        ]
        assert 0 <= metrics[f"{model}/negation_dev_accuracy"] <= 1
    details = results["details"]
    train_counts, dev_counts = details["sentences"]["train"], details["sentences"]["dev"]
    majority = max(train_counts, key=train_counts.get)  # the baseline always says the training majority
    assert metrics["majority/dev_accuracy"] == pytest.approx(dev_counts[majority] / sum(dev_counts.values()))
    assert details["majority"]["class"] == majority
    summary = (uninterrupted / "summary.md").read_text()
    assert "| average |" in summary and "| majority class (" in summary


@pytest.mark.slow  # two more runs of the experiment: about as much again as the tiny run
def test_killed_mid_epoch_then_resumed_is_an_uninterrupted_run(uninterrupted, tmp_path):
    run_dir = tmp_path / "sentiment" / "r"
    killed = run_experiment("sentiment", tmp_path, *TINY, "--run-name", "r", stop="batch:10:SIGKILL")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    lstm_phase = run_dir / "phases" / "variant" / "lstm.json"
    assert not lstm_phase.exists() or json.loads(lstm_phase.read_text()).get("state") != "done"
    assert sentiment.main(["--logdir", str(tmp_path), *TINY, "--run-name", "r", "--resume"]) == 0
    assert (run_dir / FINISHED).exists() and [p.name for p in (tmp_path / "sentiment").iterdir()] == ["r"]
    results, reference = read_results(run_dir), read_results(uninterrupted)
    assert results["curves"] == reference["curves"]
    measured = {name: value for name, value in results["metrics"].items() if not name.endswith("/seconds")}
    expected = {name: value for name, value in reference["metrics"].items() if not name.endswith("/seconds")}
    assert measured == expected


# -- the models, without training --------------------------------------------------------------------------


def tiny_data(vocabulary_size=12, pretrained=None):
    words = ("<PAD>", "<UNK>", *(f"w{i}" for i in range(vocabulary_size - 2)))
    vocabulary = WordVocabulary(words, np.zeros(vocabulary_size, np.int64))
    split = SimpleNamespace(class_names=BINARY_CLASSES)
    return sentiment.SentimentData({"train": split}, {}, {}, vocabulary, pretrained)


def predict(model, rows) -> np.ndarray:
    """The model's probabilities for int32 rows of word ids, in inference mode (an eager call: no tracing)."""
    return keras.ops.convert_to_numpy(model(np.array(rows, np.int32), training=False))


def tiny_args(*flags):
    return sentiment.build_parser().parse_args(["--units", "5", "--embedding-size", "3", *flags])


def test_the_average_model_is_the_mean_of_the_real_words_embeddings_then_a_softmax():
    keras.utils.set_random_seed(1)
    model = sentiment.build_model("average", tiny_args(), tiny_data())
    embeddings, kernel, bias = (keras.ops.convert_to_numpy(w) for w in model.get_weights())
    sentence = [4, 7, 2, 9]
    logits = embeddings[sentence].mean(axis=0) @ kernel + bias
    expected = np.exp(logits) / np.exp(logits).sum()
    for padded in (sentence, sentence + [0, 0, 0]):
        output = predict(model, [padded])[0]
        np.testing.assert_allclose(output, expected, rtol=1e-5)
    shuffled = predict(model, [[9, 2, 7, 4]])[0]
    np.testing.assert_allclose(shuffled, expected, rtol=1e-5)  # averaging ignores word order


def test_the_lstm_model_ignores_padding_and_not_word_order():
    keras.utils.set_random_seed(2)
    model = sentiment.build_model("lstm", tiny_args(), tiny_data())
    sentence = [4, 7, 2, 9]
    outputs = [predict(model, [s])[0] for s in (sentence, sentence + [0] * 5)]
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-7)
    batch = [sentence + [0, 0], [3, 5, 0, 0, 0, 0]]  # two lengths in one batch
    np.testing.assert_allclose(predict(model, batch)[0], outputs[0], rtol=1e-5, atol=1e-7)
    reversed_output = predict(model, [sentence[::-1]])[0]
    assert not np.allclose(reversed_output, outputs[0], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("fine_tune", [False, True])
def test_pretrained_vectors_fill_the_embedding_frozen_or_fine_tuned(tmp_path, fine_tune):
    words = ["good", "bad", "<UNK>", "film"]
    matrix = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    path = WordVectors(words, matrix).save_word2vec_text(tmp_path / "vectors.txt")
    vocabulary, pretrained = sentiment.pretrained_vocabulary(
        WordVectors.load_word2vec_text(path), [["good", "film", "good", "unseen"]]
    )
    assert vocabulary.words == ("<PAD>", "<UNK>", "good", "bad", "film")
    assert vocabulary.counts.tolist() == [0, 0, 2, 0, 1]
    np.testing.assert_array_equal(pretrained, [[0, 0, 0], matrix[2], matrix[0], matrix[1], matrix[3]])
    flags = ["--embeddings", str(path)] + (["--fine-tune"] if fine_tune else [])
    data = sentiment.SentimentData(tiny_data().splits, {}, {}, vocabulary, pretrained)
    model = sentiment.build_model("average", tiny_args(*flags), data)
    embedding = model.get_layer("embedding")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(embedding.embeddings), pretrained)
    assert embedding.trainable == fine_tune
    model.train_on_batch(np.array([[2, 3, 4]], np.int32), np.array([1]))
    changed = not np.array_equal(keras.ops.convert_to_numpy(embedding.embeddings), pretrained)
    assert changed == fine_tune


def test_negation_words_and_nt_tokens():
    assert sentiment.has_negation(["it", "isn't", "good"]) and sentiment.has_negation(["not", "bad"])
    assert not sentiment.has_negation(["nothingness", "knot", "good"])


def test_the_average_model_beats_the_majority_class_on_real_sentences(vader_all):
    args = sentiment.build_parser().parse_args(
        ["--limit", "4000", "--max-length", "30", "--embedding-size", "16", "--learning-rate", "0.01"]
    )
    data = sentiment.prepare_data(args)
    keras.utils.set_random_seed(0)
    model = sentiment.build_model("average", args, data)
    labels = {split: part.labels for split, part in data.splits.items()}
    train = sentiment.sentence_batches(data.ids["train"], labels["train"], 64, shuffle=True)
    model.fit(train, epochs=3, verbose=0, shuffle=False)
    dev = model.evaluate(
        sentiment.sentence_batches(data.ids["dev"], labels["dev"], 512), verbose=0, return_dict=True
    )
    baseline = sentiment.majority_baseline(data)["dev_accuracy"]
    assert dev["accuracy"] > baseline + 0.1, (dev["accuracy"], baseline)


# -- bad flags ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--fine-tune"], "--fine-tune trains pretrained embeddings: give them with --embeddings PATH"),
        (["--models", "average,cnn"], "--models must be a comma-separated subset of ('average', 'lstm')"),
        (["--margin", "-1"], "--margin must be a number >= 0; received -1.0"),
        (["--dropout", "1"], "--dropout must be in [0, 1); received 1.0"),
        (["--max-length", "0"], "--max-length must be at least 1; received 0"),
        (["--source", "imdb"], "Unknown sentiment source. Expected 'vader', 'vader:<part>'"),
        (
            ["--data-dir", "/nonexistent"],
            "/nonexistent/movieReviewSnippets_GroundTruth.txt is missing. Run `make data`",
        ),
        (["--embeddings", "/nonexistent.txt"], "--embeddings /nonexistent.txt: [Errno 2] No such file"),
    ],
)
def test_bad_flags_are_one_error_line(tmp_path, capsys, flags, message, vader_all):
    with pytest.raises(SystemExit) as exit_info:
        sentiment.main(["--logdir", str(tmp_path), *flags])
    assert exit_info.value.code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0], errors
    assert not (tmp_path / "sentiment").exists()  # refused before a run directory was made
