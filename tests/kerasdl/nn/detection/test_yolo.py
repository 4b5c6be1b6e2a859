"""YOLO: targets by hand, encode/decode round trip, activation and loss against the slot-by-slot reference."""

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn.detection.yolo import YoloLoss, activate, detect, encode_targets, vectors_to_boxes
from kerasdl.scratch import detection as scratch
from tests.backends.gaps import rtol64
from tests.saving import reload

numpy = ops.convert_to_numpy
ANCHORS = np.array([[0.6, 1.6], [1.2, 1.2], [1.8, 0.7]])  # (h, w) in cell units: wide, square, tall
S, C = 4, 3


def some_objects(boxes_a, classes_a, boxes_b, classes_b, atol=1e-5) -> bool:
    """Whether each (box, class) of a is a different one of b, in any order, boxes equal within `atol`."""
    remaining = list(zip(np.asarray(boxes_b).tolist(), np.asarray(classes_b).tolist(), strict=True))
    for box, c in zip(np.asarray(boxes_a).tolist(), np.asarray(classes_a).tolist(), strict=True):
        match = next(
            (j for j, (b, k) in enumerate(remaining) if k == c and np.allclose(b, box, atol=atol)), None
        )
        if match is None:
            return False
        remaining.pop(match)
    return True


def same_objects(boxes_a, classes_a, boxes_b, classes_b) -> bool:
    """Whether two lists of (box, class) hold the same objects, in any order."""
    return len(classes_a) == len(classes_b) and some_objects(boxes_a, classes_a, boxes_b, classes_b)


def random_objects(seed: int, images: int = 6, slots: int = 4):
    rng = np.random.default_rng(seed)
    centre, size = rng.uniform(0.15, 0.85, (images, slots, 2)), rng.uniform(0.1, 0.35, (images, slots, 2))
    boxes = np.concatenate([centre - size / 2, centre + size / 2], -1)
    classes = rng.integers(0, C, (images, slots))
    classes[rng.uniform(size=(images, slots)) < 0.3] = -1
    boxes[classes < 0] = 0
    return boxes, classes


class TestTargets:
    def test_one_box_by_hand(self):
        # S = 2: the box centred at x = 0.75, y = 0.25 lies in row 0, column 1; h = 0.2, w = 0.4 of the image
        boxes = np.array([[[0.15, 0.55, 0.35, 0.95]]])
        targets, dropped = encode_targets(
            boxes, np.array([[2]]), grid_size=2, anchors=[[1.0, 1.0]], num_classes=3
        )
        assert targets.shape == (1, 2, 2, 1, 8) and dropped == 0
        # (p_c, b_x, b_y, b_h, b_w, c_1, c_2, c_3): centre at (0.5, 0.5) of the cell, size in cells (0.4, 0.8)
        np.testing.assert_allclose(targets[0, 0, 1, 0], [1, 0.5, 0.5, 0.4, 0.8, 0, 0, 1], atol=1e-6)
        assert targets[0].sum() == pytest.approx(targets[0, 0, 1, 0].sum())  # every other slot is empty

    def test_each_object_goes_to_the_anchor_of_its_shape(self):
        tall, wide = [0.1, 0.45, 0.4, 0.55], [0.6, 0.1, 0.7, 0.4]  # h 0.3 w 0.1; h 0.1 w 0.3 (x S = 4 cells)
        targets, _ = encode_targets(np.array([[tall, wide]]), np.array([[0, 1]]), S, ANCHORS, C)
        # (row, column, anchor): the tall one, centred at (x, y) = (0.5, 0.25), in row 1, column 2, anchor 2;
        # the wide one, centred at (0.25, 0.65), in row 2, column 1, anchor 0
        assert [tuple(i) for i in np.argwhere(targets[0, ..., 0])] == [(1, 2, 2), (2, 1, 0)]

    def test_two_objects_in_one_slot_keep_the_first(self):
        first, second = [0.1, 0.1, 0.2, 0.2], [0.11, 0.11, 0.21, 0.21]
        targets, dropped = encode_targets(np.array([[first, second]]), np.array([[0, 1]]), S, ANCHORS, C)
        assert dropped == 1 and targets[..., 0].sum() == 1 and targets[..., 5].sum() == 1

    def test_round_trip_through_the_lessons_vectors(self):
        boxes, classes = random_objects(seed=0)
        targets, dropped = encode_targets(boxes, classes, S, ANCHORS, C)
        decoded, p_c, class_scores = (numpy(t) for t in vectors_to_boxes(targets))
        assert int(p_c.sum()) + dropped == int((classes >= 0).sum())
        assert dropped > 0  # a dropped object is covered too
        for i in range(len(boxes)):
            kept, real = class_scores[i].sum(axis=-1) > 0, classes[i] >= 0
            found = (decoded[i][kept], np.argmax(class_scores[i][kept], axis=-1))
            assert some_objects(*found, boxes[i][real], classes[i][real]), i

    def test_detect_on_targets_returns_the_objects(self):
        boxes, classes = random_objects(seed=1)
        targets, dropped = encode_targets(boxes, classes, S, ANCHORS, C)
        assert dropped == 0
        found, scores, found_classes, valid = (
            numpy(t) for t in detect(targets, ANCHORS, 0.5, 0.5, 6, activated=True)
        )
        for i in range(len(boxes)):
            real = classes[i] >= 0
            assert valid[i].sum() == real.sum() and np.all(scores[i][valid[i]] == 1)
            assert same_objects(
                found[i][valid[i]], found_classes[i][valid[i]], boxes[i][real], classes[i][real]
            ), i


class TestOutputs:
    def test_activation_equals_the_slot_by_slot_reference(self):
        outputs = np.random.default_rng(2).normal(size=(2, S, S, 3, 5 + C))
        np.testing.assert_allclose(
            numpy(activate(outputs, ANCHORS)), scratch.yolo_activation(outputs, ANCHORS), rtol=1e-12
        )

    def test_ideal_logits_decode_to_the_objects(self):
        """The inverse parametrization, written here: logit(b_x), log(b_h / anchor_h), +-20 for p_c and c."""
        boxes, classes = random_objects(seed=3)
        targets, _ = encode_targets(boxes, classes, S, ANCHORS, C)
        outputs = np.zeros_like(targets, dtype=np.float64)
        obj = targets[..., 0] == 1
        outputs[..., 0] = np.where(obj, 20, -20)
        centre = np.clip(targets[..., 1:3], 1e-9, 1 - 1e-9)
        outputs[..., 1:3] = np.log(centre / (1 - centre))
        outputs[..., 3:5] = np.log(np.where(obj[..., None], targets[..., 3:5], 1) / ANCHORS)
        outputs[..., 5:] = 20 * targets[..., 5:]
        found, scores, found_classes, valid = (numpy(t) for t in detect(outputs, ANCHORS, 0.5, 0.5, 6))
        for i in range(len(boxes)):
            real = classes[i] >= 0
            assert valid[i].sum() == real.sum() and np.allclose(scores[i][valid[i]], 1, atol=1e-6)
            assert same_objects(
                found[i][valid[i]], found_classes[i][valid[i]], boxes[i][real], classes[i][real]
            ), i

    def test_score_threshold_and_per_class_suppression(self):
        # 2 x 2 cells, boxes 2 cells (the whole image) high and wide; centres in image units in the comments
        vectors = np.zeros((1, 2, 2, 1, 7))
        vectors[0, 0, 0, 0] = [0.9, 0.5, 0.5, 2.0, 2.0, 1, 0]  # class 0 at (0.25, 0.25), the best
        vectors[0, 0, 1, 0] = [0.8, 0.0, 0.5, 2.0, 2.0, 1, 0]  # class 0 at (0.5, 0.25): IoU 0.6, suppressed
        vectors[0, 1, 0, 0] = [0.7, 0.5, 0.0, 2.0, 2.0, 0, 1]  # class 1 at (0.25, 0.5): IoU 0.6, kept
        vectors[0, 1, 1, 0] = [0.3, 0.5, 0.5, 2.0, 2.0, 0, 1]  # scores 0.3: below the threshold
        _, scores, classes, valid = (
            numpy(t) for t in detect(vectors, [[1.0, 1.0]], 0.5, 0.5, 4, activated=True)
        )
        assert scores[0][valid[0]].tolist() == pytest.approx([0.9, 0.7]) and classes[0][
            valid[0]
        ].tolist() == [0, 1]

    @pytest.mark.parametrize("k", [2, C])
    def test_k_classes_per_box_equals_tensorflows_combined_nms(self, k):
        """TensorFlow's per-class NMS over every box's scores p_c c_i, those outside its k best set to 0."""
        tf = pytest.importorskip("tensorflow")
        outputs = np.random.default_rng(7).normal(size=(3, S, S, 3, 5 + C)).astype(np.float32)
        boxes, p_c, probabilities = (numpy(t) for t in vectors_to_boxes(activate(outputs, ANCHORS)))
        scores = p_c[..., None] * probabilities
        kth_best = np.sort(scores, axis=-1)[..., -k][..., None]
        scores = np.where(scores >= kth_best, scores, 0.0)
        expected = tf.image.combined_non_max_suppression(
            boxes[:, :, None, :], scores, 15, 15, 0.5, 0.05, clip_boxes=False
        )
        found, found_scores, found_classes, valid = (
            numpy(t) for t in detect(outputs, ANCHORS, 0.05, 0.5, 15, classes_per_box=k)
        )
        np.testing.assert_array_equal(valid.sum(axis=1), expected.valid_detections.numpy())
        for i, n in enumerate(expected.valid_detections.numpy()):
            np.testing.assert_allclose(found_scores[i, :n], expected.nmsed_scores[i, :n], rtol=1e-5)
            np.testing.assert_array_equal(found_classes[i, :n], expected.nmsed_classes[i, :n])
            np.testing.assert_allclose(found[i, :n], expected.nmsed_boxes[i, :n], atol=1e-6)

    def test_one_class_per_box_is_the_default_and_k_must_be_positive(self):
        outputs = np.random.default_rng(8).normal(size=(1, S, S, 3, 5 + C)).astype(np.float32)
        one = [numpy(t) for t in detect(outputs, ANCHORS, 0.05, 0.5, 10, classes_per_box=1)]
        for ours, default in zip(
            one, (numpy(t) for t in detect(outputs, ANCHORS, 0.05, 0.5, 10)), strict=True
        ):
            np.testing.assert_array_equal(ours, default)
        with pytest.raises(ValueError, match="classes_per_box must be a positive integer. Received: 0"):
            detect(outputs, ANCHORS, classes_per_box=0)


class TestLoss:
    @pytest.mark.parametrize(
        "settings",
        [
            {},
            {"lambda_coord": 5.0, "lambda_noobj": 0.5, "sqrt_sizes": True},
            {"lambda_coord": 5.0, "lambda_noobj": 0.5, "sqrt_sizes": True, "form": "practical"},
        ],
        ids=["lesson", "yolo_v1", "practical"],
    )
    def test_equals_the_slot_by_slot_reference(self, settings):
        boxes, classes = random_objects(seed=4)
        targets, _ = encode_targets(boxes, classes, S, ANCHORS, C)
        outputs = np.random.default_rng(5).normal(size=targets.shape)
        loss = YoloLoss(ANCHORS, **settings, dtype="float64")
        expected = scratch.yolo_loss(targets, outputs, ANCHORS, **settings)
        assert float(loss(targets, outputs)) == pytest.approx(expected, rel=rtol64(1e-10))

    def test_defaults_are_the_lessons_localization_loss_summed_over_slots(self):
        boxes, classes = random_objects(seed=6)
        targets, _ = encode_targets(boxes, classes, S, ANCHORS, C)
        outputs = np.random.default_rng(7).normal(size=targets.shape)
        vectors = scratch.yolo_activation(outputs, ANCHORS)
        slots = [scratch.localization_loss(vectors[i], targets[i]) for i in np.ndindex(targets.shape[:-1])]
        assert float(YoloLoss(ANCHORS, dtype="float64")(targets, outputs)) == pytest.approx(
            sum(slots) / len(targets), rel=rtol64(1e-10)
        )

    def test_a_compiled_model_trains_saves_and_reloads(self, tmp_path):
        boxes, classes = random_objects(seed=8, images=4)
        targets, _ = encode_targets(boxes, classes, S, ANCHORS, C)
        images = np.random.default_rng(9).uniform(size=(4, 16, 16, 1)).astype("float32")
        keras.utils.set_random_seed(0)
        model = keras.Sequential([
            keras.Input((16, 16, 1)), keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(4), keras.layers.Conv2D(3 * (5 + C), 1),
            keras.layers.Reshape((S, S, 3, 5 + C)),
        ])  # fmt: skip
        loss = YoloLoss(ANCHORS, lambda_noobj=0.5, sqrt_sizes=True, form="practical")
        model.compile(keras.optimizers.Adam(0.01), loss)
        before = float(numpy(loss(targets, model(images))))
        model.fit(np.tile(images, (15, 1, 1, 1)), np.tile(targets, (15, 1, 1, 1, 1)), batch_size=4, verbose=0)
        assert float(numpy(loss(targets, model(images)))) < 0.8 * before
        loaded = reload(model, tmp_path)
        assert loaded.loss.get_config() == model.loss.get_config()
        np.testing.assert_allclose(numpy(loaded(images)), numpy(model(images)), rtol=1e-6)

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"anchors": [[1.0]]}, r"anchors must be \[A, 2\] positive"),
            (
                {"anchors": ANCHORS, "lambda_coord": -1},
                "lambda_coord must be a number >= 0. Received: lambda_coord=-1",
            ),
            ({"anchors": ANCHORS, "sqrt_sizes": 1}, "sqrt_sizes must be True or False"),
            ({"anchors": ANCHORS, "form": "focal"}, r"form must be one of \('lesson', 'practical'\)"),
        ],
    )
    def test_bad_arguments(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            YoloLoss(**kwargs)
