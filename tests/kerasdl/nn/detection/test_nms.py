"""kerasdl.nn.detection.nms against tf.image.non_max_suppression (1,000 random sets) and the lesson's loop."""

import numpy as np
import pytest
from keras import ops

from kerasdl.nn.detection.nms import non_max_suppression
from kerasdl.scratch import detection as scratch

numpy = ops.convert_to_numpy
SETS, MOST = 1000, 40


def random_sets(seed: int, sets: int = SETS):
    """`sets` random box sets of 1..MOST boxes, padded to MOST with score -inf (never a candidate)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, MOST + 1, sets)
    centre, size = rng.uniform(0, 1, (sets, MOST, 2)), rng.uniform(0.05, 0.5, (sets, MOST, 2))
    boxes = np.concatenate([centre - size / 2, centre + size / 2], -1).astype("float32")
    boxes[::4] = boxes[::4][..., [2, 1, 0, 3]]  # every fourth set with its corners given the other way round
    scores = rng.uniform(0, 1, (sets, MOST)).astype("float32")
    scores[np.arange(MOST)[None, :] >= sizes[:, None]] = -np.inf
    classes = rng.integers(0, 3, (sets, MOST)).astype("int32")
    return boxes, scores, classes, sizes


def selected(indices, valid):
    return [list(i[v]) for i, v in zip(numpy(indices), numpy(valid), strict=True)]


# (max_output_size, iou_threshold, score_threshold), one quarter of the sets each
SETTINGS = [(10, 0.5, float("-inf")), (MOST, 0.3, float("-inf")), (5, 0.7, 0.4), (MOST, 0.5, 0.2)]


@pytest.mark.parametrize("setting", range(len(SETTINGS)))
def test_equals_tensorflow_on_random_sets(setting):
    tf = pytest.importorskip("tensorflow")
    max_output, iou_threshold, score_threshold = SETTINGS[setting]
    boxes, scores, _, sizes = random_sets(seed=setting, sets=SETS // len(SETTINGS))
    ours = selected(*non_max_suppression(boxes, scores, max_output, iou_threshold, score_threshold))
    for i, n in enumerate(sizes):
        expected = tf.image.non_max_suppression(
            boxes[i, :n], scores[i, :n], max_output, iou_threshold, score_threshold
        )
        assert ours[i] == list(expected.numpy()), i


def test_per_class_equals_tensorflow_class_by_class_merged_by_score():
    tf = pytest.importorskip("tensorflow")
    boxes, scores, classes, sizes = random_sets(seed=10, sets=100)
    ours = selected(*non_max_suppression(boxes, scores, 12, 0.4, classes=classes))
    for i, n in enumerate(sizes):
        kept = []
        for c in range(3):
            members = np.nonzero(classes[i, :n] == c)[0]
            chosen = tf.image.non_max_suppression(boxes[i, members], scores[i, members], 12, 0.4).numpy()
            kept += list(members[chosen])
        expected = sorted(kept, key=lambda j: -scores[i, j])[:12]
        assert ours[i] == expected, i


def test_equals_the_lessons_loop_with_and_without_classes():
    boxes, scores, classes, sizes = random_sets(seed=20, sets=60)
    plain = selected(*non_max_suppression(boxes, scores, 8, 0.5, 0.1))
    by_class = selected(*non_max_suppression(boxes, scores, 8, 0.5, 0.1, classes=classes))
    for i, n in enumerate(sizes):
        b, s, c = boxes[i, :n].tolist(), scores[i, :n].tolist(), classes[i, :n].tolist()
        assert plain[i] == scratch.non_max_suppression(b, s, 8, 0.5, 0.1), i
        assert by_class[i] == scratch.non_max_suppression(b, s, 8, 0.5, 0.1, classes=c), i


def test_one_image_has_fixed_shapes_and_padding():
    boxes = np.array([[0, 0, 1, 1], [0, 0, 1, 1.1], [2, 2, 3, 3]], "float32")
    indices, valid = non_max_suppression(boxes, np.array([0.9, 0.8, 0.7], "float32"), max_output_size=5)
    assert numpy(indices).tolist() == [0, 2, 0, 0, 0]
    assert numpy(valid).tolist() == [True, True, False, False, False]


def test_no_boxes_selects_nothing():
    indices, valid = non_max_suppression(np.zeros((0, 4), "float32"), np.zeros(0, "float32"), 3)
    assert numpy(indices).tolist() == [0, 0, 0] and not numpy(valid).any()


def test_iou_exactly_at_the_threshold_is_kept_and_ties_go_to_the_lower_index():
    boxes = np.array([[0, 0, 1, 1], [0, 0, 1, 2], [0, 0, 1, 1]], "float32")  # IoU(0, 1) = 0.5 exactly
    indices, valid = non_max_suppression(boxes, np.array([0.5, 0.4, 0.5], "float32"), 3, iou_threshold=0.5)
    assert numpy(indices)[numpy(valid)].tolist() == [0, 1]  # box 2 ties box 0 and is its copy: suppressed


@pytest.mark.slow  # compiling takes seconds
def test_compiles_with_xla():
    tf = pytest.importorskip("tensorflow")
    boxes, scores, _, _ = random_sets(seed=30, sets=8)
    compiled = tf.function(lambda b, s: non_max_suppression(b, s, 10, 0.5), jit_compile=True)
    for got, want in zip(compiled(boxes, scores), non_max_suppression(boxes, scores, 10, 0.5), strict=True):
        np.testing.assert_array_equal(numpy(got), numpy(want))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_output_size": 0}, "max_output_size must be a positive integer. Received: max_output_size=0"),
        ({"max_output_size": 2, "iou_threshold": 1.5}, "iou_threshold must be in"),
        ({"max_output_size": 2, "score_threshold": float("nan")}, "score_threshold must be a number"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        non_max_suppression(np.zeros((2, 4), "float32"), np.zeros(2, "float32"), **kwargs)
