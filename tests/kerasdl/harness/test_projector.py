"""kerasdl.harness.projector: what it writes is what TensorBoard's own Projector plugin serves.

The oracle is the Projector plugin of the installed TensorBoard, started on
the written logdir and asked over its HTTP routes for the runs, the tensor,
the metadata and the sprite, as the browser asks; the files are also read
back directly (config proto, checkpoint, TSV, PNG).
"""

import json

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.plugins import base_plugin
from tensorboard.plugins.projector import ProjectorConfig
from tensorboard.plugins.projector.projector_plugin import ProjectorPlugin
from werkzeug import test as werkzeug_test
from werkzeug import wrappers

from kerasdl.harness.projector import (
    EMBEDDING_TENSOR,
    METADATA_FILE,
    metadata_table,
    sprite_image,
    write_projector,
)

WORDS = ["the", "tab\there", "new\nline", "café"]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("logs")
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(4, 3)).astype(np.float32)
    images = rng.integers(0, 256, (4, 5, 6, 3), dtype=np.uint8)
    directory = write_projector(
        logdir / "projector", "skipgram", WORDS, matrix, metadata={"count": [9, 8, 7, 6]}, sprite=images
    )
    write_projector(logdir / "projector", "glove", WORDS, matrix * 2)  # a second embedding, its own run
    return logdir, directory, matrix, images


def serve(logdir):
    """The Projector plugin's routes over `logdir`, as TensorBoard serves them: route -> (status, bytes)."""
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    context = base_plugin.TBContext(
        logdir=str(logdir),
        data_provider=data_provider.MultiplexerDataProvider(multiplexer, str(logdir)),
        multiplexer=multiplexer,
    )
    apps = ProjectorPlugin(context).get_plugin_apps()

    def get(route, **query):
        response = werkzeug_test.Client(apps[route], wrappers.Response).get(route, query_string=query)
        return response.status_code, response.get_data()

    return get


def test_the_projector_plugin_serves_the_tensor_metadata_and_sprite(written):
    logdir, _, matrix, images = written
    get = serve(logdir)
    status, runs = get("/runs")
    assert status == 200 and set(json.loads(runs)) == {"projector/skipgram", "projector/glove"}
    status, tensor = get("/tensor", run="projector/skipgram", name=EMBEDDING_TENSOR)
    assert status == 200
    np.testing.assert_array_equal(np.frombuffer(tensor, np.float32).reshape(4, 3), matrix)
    status, tensor = get("/tensor", run="projector/glove", name=EMBEDDING_TENSOR)
    np.testing.assert_array_equal(np.frombuffer(tensor, np.float32).reshape(4, 3), matrix * 2)
    status, metadata = get("/metadata", run="projector/skipgram", name=EMBEDDING_TENSOR)
    assert status == 200
    assert metadata.decode("utf-8").split("\n")[:5] == [
        "word\tcount",
        "the\t9",
        "tab\\there\t8",
        "new\\nline\t7",
        "café\t6",
    ]
    status, png = get("/sprite_image", run="projector/skipgram", name=EMBEDDING_TENSOR)
    assert status == 200
    sprite = tf.io.decode_png(png).numpy()
    assert sprite.shape == (10, 12, 3)  # a 2 x 2 grid of 5 x 6 images
    for i, image in enumerate(images):  # row by row
        row, column = divmod(i, 2)
        np.testing.assert_array_equal(sprite[row * 5 : (row + 1) * 5, column * 6 : (column + 1) * 6], image)


def test_the_files_read_back(written):
    _, directory, matrix, _ = written
    config = text_format.Parse((directory / "projector_config.pbtxt").read_text(), ProjectorConfig())
    (embedding,) = config.embeddings
    assert (embedding.tensor_name, embedding.metadata_path) == (EMBEDDING_TENSOR, METADATA_FILE)
    assert list(embedding.sprite.single_image_dim) == [6, 5]  # width, height
    np.testing.assert_array_equal(
        tf.train.load_checkpoint(str(directory)).get_tensor(EMBEDDING_TENSOR), matrix
    )
    lines = (directory / METADATA_FILE).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 + len(WORDS) and all(line.count("\t") == 1 for line in lines)


def test_one_column_of_metadata_has_no_header():
    assert metadata_table(["a", "b\tc"]) == "a\nb\\tc\n"
    with pytest.raises(ValueError, match="one value per row"):
        metadata_table(["a", "b"], {"count": [1]})


def test_the_sprite_fills_a_square_grid_and_refuses_what_the_projector_cannot_show():
    images = np.full((5, 2, 2, 1), 7, np.uint8)
    sprite = sprite_image(images)
    assert sprite.shape == (6, 6, 1)  # ceil(sqrt(5)) = 3 images a side
    assert int(sprite.sum()) == 5 * 4 * 7  # the last 4 cells are blank
    with pytest.raises(ValueError, match="at most 8192 a side"):
        sprite_image(np.broadcast_to(np.uint8(0), (10_000, 100, 100, 1)))
    with pytest.raises(ValueError, match="uint8"):
        sprite_image(np.zeros((2, 2, 2, 3), np.float32))


def test_bad_arguments_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="matrix must be"):
        write_projector(tmp_path, "x", ["a", "b"], np.zeros((3, 2)))
    with pytest.raises(ValueError, match="Invalid embedding name"):
        write_projector(tmp_path, "../x", ["a"], np.zeros((1, 2)))


def test_only_the_chief_writes(tmp_path, monkeypatch):
    from kerasdl.harness.projector import write_projector

    worker = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 1}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(worker))
    path = write_projector(tmp_path, "words", ["a", "b"], np.eye(2))
    assert path == tmp_path / "words" and not path.exists()
