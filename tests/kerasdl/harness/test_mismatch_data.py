"""kerasdl.harness.mismatch_data: the main job's data from its flags, one source or two, as inputs."""

import argparse

import numpy as np
import pytest
from PIL import Image, ImageDraw

from kerasdl.harness.mismatch_data import add_data_flags, align_classes, mismatch_data
from pipelines.sources import ImageSource


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_data_flags(parser)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(list(argv))


def folder(root, classes, count, shade):
    """`count` 6x6 grey PNGs per class, each a different brightness around `shade`."""
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(count):
            pixels = np.full((6, 6), (shade + 7 * i + 40 * label) % 256, np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def source(names, labels, shape=(2, 2, 1)):
    n = len(labels)
    images = np.arange(n * int(np.prod(shape)), dtype=np.uint8).reshape(n, *shape)
    return ImageSource(
        "s", images, np.asarray(labels, np.int64), np.array([f"s/{i}" for i in range(n)]), names
    )


def test_two_folders_are_the_training_source_and_the_source_that_matters(tmp_path):
    web = folder(tmp_path / "web", ("cat", "dog"), 60, 10)
    app = folder(tmp_path / "app", ("cat", "dog"), 40, 130)
    args = parse("--source", f"folder:{web}", "--source-b", f"folder:{app}", "--train-eval-size", "0")
    data = mismatch_data(args)
    composition = data.split.composition()
    assert composition["dev"]["A"] == composition["test"]["A"] == 0  # dev and test: source B only
    assert composition["dev"]["B"] + composition["test"]["B"] + composition["train"]["B"] + \
        composition["train_dev"]["B"] == 80  # fmt: skip
    assert sum(size for size in data.split.sizes().values()) == 200 and data.class_names == ("cat", "dog")
    assert data.description == f"A = folder:{web}, B = folder:{app}" and not data.b_synthesized
    assert "camera" not in data.to_json()
    assert data.train_eval is data.split.train  # --train-eval-size 0: all of train


def test_a_class_in_one_source_only_is_named(tmp_path):
    web = folder(tmp_path / "web", ("cat", "dog"), 5, 10)
    app = folder(tmp_path / "app", ("cat", "fox"), 5, 130)
    with pytest.raises(
        ValueError, match=r"Only in A \(folder:.*web\): \['dog'\]; only in B \(folder:.*app\): \['fox'\]"
    ):
        mismatch_data(parse("--source", f"folder:{web}", "--source-b", f"folder:{app}"))


def test_classes_are_matched_by_name_and_shapes_must_agree():
    a = source(("cat", "dog", "fox"), [0, 1, 2])
    b = source(("fox", "cat", "dog"), [0, 1, 2, 2])  # fox, cat, dog, dog
    aligned = align_classes(a, b)
    assert aligned.class_names == a.class_names
    assert [a.class_names[label] for label in aligned.labels] == ["fox", "cat", "dog", "dog"]
    np.testing.assert_array_equal(aligned.images, b.images)
    with pytest.raises(ValueError, match=r"A \(s\) has \(2, 2, 1\), B \(s\) has \(3, 3, 1\)"):
        align_classes(a, source(("cat",), [0], shape=(3, 3, 1)))


@pytest.mark.parametrize("preprocess", ["standardize", "unit", "raw"])
def test_the_inputs_the_model_sees(tmp_path, preprocess):
    web = folder(tmp_path / "web", ("cat", "dog"), 30, 10)
    app = folder(tmp_path / "app", ("cat", "dog"), 30, 130)
    data = mismatch_data(
        parse("--source", f"folder:{web}", "--source-b", f"folder:{app}", "--preprocess", preprocess)
    )
    pixels = data.split.train.images.astype(np.float64)
    inputs = data.inputs(data.split.train.images)
    expected = {
        "standardize": (pixels - pixels.mean()) / pixels.std(),
        "unit": pixels / 255,
        "raw": pixels,
    }[preprocess]
    np.testing.assert_allclose(inputs, expected, rtol=1e-4, atol=1e-4)
    (batch, labels), *_ = data.dataset(data.split.train, 1000)
    np.testing.assert_allclose(batch.numpy(), inputs, rtol=1e-6)
    assert set(data.evaluation_datasets()) == {"train", "train_dev", "dev", "test"}


def shapes_folder(root, classes, count, seed):
    """`count` different 64x64 pictures per class: random filled shapes in random colours."""
    rng = np.random.default_rng(seed)
    for name in classes:
        (root / name).mkdir(parents=True)
        for i in range(count):
            canvas = Image.new("RGB", (64, 64), tuple(int(v) for v in rng.integers(0, 256, 3)))
            draw = ImageDraw.Draw(canvas)
            for _ in range(4):
                corner = rng.integers(0, 56, 2)
                box = (*corner, *(corner + rng.integers(6, 32, 2)))
                draw.rectangle(
                    tuple(int(v) for v in box), fill=tuple(int(v) for v in rng.integers(0, 256, 3))
                )
            canvas.save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def sources_with_copies(tmp_path_factory):
    """Two folders sharing two pictures: one byte-identical, one recompressed as JPEG."""
    root = tmp_path_factory.mktemp("copies")
    web = shapes_folder(root / "web", ("cat", "dog"), 30, seed=0)
    app = shapes_folder(root / "app", ("cat", "dog"), 20, seed=1)
    (app / "cat" / "copy.png").write_bytes((web / "cat" / "3.png").read_bytes())
    Image.open(web / "dog" / "5.png").save(app / "dog" / "copy.jpg", quality=85)
    flags = ("--source", f"folder:{web}", "--source-b", f"folder:{app}", "--train-eval-size", "0")
    planted = [("A:cat/3.png", "B:cat/copy.png"), ("A:dog/5.png", "B:dog/copy.jpg")]
    return flags, planted


def test_copies_across_the_sources_are_found_and_kept_on_the_training_side(sources_with_copies):
    flags, planted = sources_with_copies
    data = mismatch_data(parse(*flags, "--train-dev-fraction", "0.3"))
    assert sorted(data.copies.groups) == planted and data.copies.identical == (True, False)
    where = {str(i): name for name, part in data.split.as_dict().items() for i in part.ids}
    for a_copy, b_copy in planted:
        assert where[a_copy] == where[b_copy] in ("train", "train_dev")  # together, never evaluated
    in_splits = data.duplicates_in_splits()
    assert in_splits.counts()["groups"] == 2 and in_splits.counts()["across_splits"] == 0
    document = data.to_json()["duplicates"]
    assert (
        document["found_before_split"]["exact_groups"] == document["found_before_split"]["near_groups"] == 1
    )
    assert document["found_before_split"]["across_sources"] == 2
    assert document["removed_by_dedupe"] == 0 and sorted(map(tuple, document["groups"])) == planted
    # Exact copies only: the recompressed one is no longer a copy.
    exact = mismatch_data(parse(*flags, "--near-duplicate-bits", "-1"))
    assert exact.copies.groups == (planted[0],) and exact.copies.near_bits is None


def test_dedupe_keeps_source_bs_copy(sources_with_copies):
    flags, planted = sources_with_copies
    data = mismatch_data(parse(*flags, "--dedupe"))
    ids = {str(i) for part in data.split.as_dict().values() for i in part.ids}
    assert len(ids) == 60 + 42 - 2  # A: 2 x 30, B: 2 x 20 + 2 copies; less the two copies in A
    assert all(b_copy in ids and a_copy not in ids for a_copy, b_copy in planted)
    assert data.copies.removed == ("A:cat/3.png", "A:dog/5.png")
    assert data.to_json()["duplicates"]["removed_by_dedupe"] == 2
    assert data.duplicates_in_splits().groups == ()
