"""Reading what a run wrote for TensorBoard, across every event file of a folder.

A resumed run appends a new event file per process, so a tag's events are
spread over several files; reading them all, in file order, is what shows
whether a point was written twice or lost.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def tag_events(directory: Path, tag: str) -> list:
    """Every event of `tag` in `directory`, across all its event files, in writing order."""
    found = []
    for event_file in sorted(Path(directory).glob("events.out.tfevents*")):
        accumulator = EventAccumulator(str(event_file))
        accumulator.Reload()
        if tag in accumulator.Tags()["tensors"]:
            found += accumulator.Tensors(tag)
    return found


def scalar_points(directory: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of every scalar event of `tag` in `directory`, in writing order."""
    return [(event.step, float(tf.make_ndarray(event.tensor_proto))) for event in tag_events(directory, tag)]


def tag_steps(directory: Path, tag: str) -> list[int]:
    """The step of every event of `tag` in `directory`, in writing order."""
    return [event.step for event in tag_events(directory, tag)]
