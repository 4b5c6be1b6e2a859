"""Embeddings for TensorBoard's Projector: the matrix as a checkpoint, a metadata table, a config, a sprite.

Course 5, Week 2, "Word representation": an embedding is best understood
by looking at it, its words laid out in 2 or 3 dimensions (t-SNE, van der
Maaten and Hinton 2008, or PCA). TensorBoard's Projector does that
interactively, and searches for a word's nearest neighbours. Keras 3's own
`TensorBoard(embeddings_freq=...)` no longer writes it (keras#20210), so
`write_projector` writes what the Projector reads, into
`log_dir/<name>/`:

- the matrix as a checkpointed `tf.Variable` (`embedding.ckpt-1.*`), under
  the key `EMBEDDING_TENSOR` (`embedding/.ATTRIBUTES/VARIABLE_VALUE`);
- `metadata.tsv`: one row per embedding row, the word or label; with
  extra columns (`metadata`), a header row first ("word", then the column
  names), as the Projector expects of a table of several columns. Tabs,
  newlines and carriage returns in a value are written as the two
  characters "\\t", "\\n", "\\r", so every row stays one line;
- `sprite.png` (optional, for images): the images [N, H, W, C] tiled
  row by row into a square grid, at most 8192 pixels a side;
- `projector_config.pbtxt`, naming the tensor, the metadata and the sprite
  (`tensorboard.plugins.projector`);
- a small event file (the Text "projector" says what the embedding is).
  TensorBoard lists a folder as a run only when it holds event files, and
  the Projector reads one checkpoint per run, so each embedding is a run of
  its own: pick it in the Projector's run menu.

Example:

    write_projector(run.dir / "projector", "skipgram", vectors.words, vectors.matrix,
                    metadata={"count": counts})
    # tensorboard --logdir logs/embeddings  ->  Projector, run ".../projector/skipgram"
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
from google.protobuf import text_format
from tensorboard.plugins import projector
from tensorboard.plugins.projector.metadata import PROJECTOR_FILENAME

from kerasdl.harness.run import check_name
from kerasdl.training.distribute import is_chief
from kerasdl.training.io import atomic_write_bytes, atomic_write_text

EMBEDDING_TENSOR = "embedding/.ATTRIBUTES/VARIABLE_VALUE"  # the Variable's key in a tf.train.Checkpoint
METADATA_FILE = "metadata.tsv"
SPRITE_FILE = "sprite.png"
CHECKPOINT_PREFIX = "embedding.ckpt"
MAX_SPRITE_SIDE = 8192  # pixels: the Projector's limit for the sprite image
_ESCAPES = str.maketrans({"\t": "\\t", "\n": "\\n", "\r": "\\r"})


def metadata_value(value) -> str:
    """One metadata cell: the value as text, tabs and line breaks written as "\\t", "\\n", "\\r"."""
    return str(value).translate(_ESCAPES)


def metadata_table(labels: Sequence, metadata: Mapping[str, Sequence] | None = None) -> str:
    """The text of `metadata.tsv`: a label per line, or a header ("word", columns...) and a row per label."""
    if not metadata:
        return "".join(metadata_value(label) + "\n" for label in labels)
    for column, values in metadata.items():
        if len(values) != len(labels):
            raise ValueError(
                f"every metadata column has one value per row. Received: {len(values)} values in "
                f"column {column!r} for {len(labels)} rows"
            )
    names = ["word", *metadata]
    columns = [list(labels), *metadata.values()]
    lines = ["\t".join(metadata_value(name) for name in names)]
    lines += ["\t".join(metadata_value(column[i]) for column in columns) for i in range(len(labels))]
    return "\n".join(lines) + "\n"


def sprite_image(images) -> np.ndarray:
    """The images [N, H, W, C] (uint8, C = 1, 3 or 4) tiled into a square grid, row by row, blank at the end.

    Raises:
        ValueError: not uint8 [N, H, W, C], or the grid would exceed
            `MAX_SPRITE_SIDE` pixels a side.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3, 4) or not len(images):
        raise ValueError(
            "sprite images must be uint8 [N, H, W, C] with C in (1, 3, 4). "
            f"Received: shape={images.shape}, dtype={images.dtype}"
        )
    count, height, width, channels = images.shape
    side = math.ceil(math.sqrt(count))
    if side * max(height, width) > MAX_SPRITE_SIDE:
        raise ValueError(
            f"the sprite of {count:,} images of {height}x{width} would be "
            f"{side * height}x{side * width} pixels; "
            f"the Projector takes at most {MAX_SPRITE_SIDE} a side: use fewer or smaller images"
        )
    grid = np.zeros((side * side, height, width, channels), np.uint8)
    grid[:count] = images
    return (
        grid.reshape(side, side, height, width, channels)
        .transpose(0, 2, 1, 3, 4)
        .reshape(side * height, side * width, channels)
    )


def write_projector(
    log_dir: str | os.PathLike,
    name: str,
    words_or_labels: Sequence,
    matrix,
    metadata: Mapping[str, Sequence] | None = None,
    sprite=None,
) -> Path:
    """Writes an embedding for TensorBoard's Projector into `log_dir/<name>/` (module docstring).

    Args:
        log_dir: a folder under TensorBoard's logdir, e.g. `run.dir / "projector"`.
        name: the embedding's folder (a plain name), its run in TensorBoard.
        words_or_labels: one label per row of `matrix`, the metadata's first column.
        matrix: [N, D] numbers, the embedding.
        metadata: more columns, name -> one value per row (e.g. counts, clusters).
        sprite: optional uint8 images [N, H, W, C], one per row, shown as the points.

    Returns:
        The folder written, `log_dir/<name>/` (on a cluster, only the chief
        writes it; the other workers get its path and write nothing).
    """
    check_name("embedding", name)
    matrix = np.asarray(matrix)
    if (
        matrix.ndim != 2
        or not np.issubdtype(matrix.dtype, np.number)
        or matrix.shape[0] != len(words_or_labels)
    ):
        raise ValueError(
            f"matrix must be [len(words_or_labels), D] numbers. Received: shape={matrix.shape}, "
            f"dtype={matrix.dtype}, {len(words_or_labels)} labels"
        )
    if sprite is not None and len(sprite) != len(matrix):
        raise ValueError(
            f"the sprite has one image per row. Received: {len(sprite)} images, {len(matrix)} rows"
        )
    table = metadata_table(words_or_labels, metadata)
    tiled = sprite_image(sprite) if sprite is not None else None
    directory = Path(log_dir) / name
    if not is_chief():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_text(directory / METADATA_FILE, table)

    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = EMBEDDING_TENSOR
    embedding.metadata_path = METADATA_FILE
    if tiled is not None:
        atomic_write_bytes(directory / SPRITE_FILE, tf.io.encode_png(tiled).numpy())
        embedding.sprite.image_path = SPRITE_FILE
        embedding.sprite.single_image_dim.extend(
            [int(sprite.shape[2]), int(sprite.shape[1])]
        )  # width, height

    # No model_checkpoint_path in the config: the Projector then reads the folder's latest checkpoint,
    # so the folder can move.
    variable = tf.Variable(matrix.astype(np.float32), trainable=False, name=name)
    checkpoint = tf.train.Checkpoint(embedding=variable)
    tf.train.CheckpointManager(checkpoint, directory, max_to_keep=1, checkpoint_name=CHECKPOINT_PREFIX).save()
    atomic_write_text(directory / PROJECTOR_FILENAME, text_format.MessageToString(config))

    writer = tf.summary.create_file_writer(str(directory))
    columns = ", ".join(["word", *(metadata or {})])
    with writer.as_default():
        tf.summary.text(
            "projector",
            f"Embedding **{name}**: {matrix.shape[0]:,} rows of {matrix.shape[1]} dimensions; "
            f"metadata columns: {columns}"
            + ("; a sprite of the images" if tiled is not None else "")
            + ". Open the Projector tab and pick this run.",
            step=0,
        )
    writer.close()
    return directory
