"""The main job on two folders as a user has them: a clean source A and a degraded source B that matters.

A holds Fashion-MNIST items rendered as 28x28 greyscale PNGs, one folder per class. B holds other items
as a phone would give them: inverted and blurred, 40x40, RGBA PNGs and RGB JPEGs mixed, plus the odd
files of a scraped folder (a text file, a truncated PNG, a PNG named .jpg) and two pictures that are
also in A (one byte-identical, one enlarged and recompressed as JPEG). Through the command line, the run
must name data mismatch as the largest gap, count the odd files, and find the two copies and keep each
pair in one split, on the training side (a picture that trains is never evaluated).
"""

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from experiments import mismatch
from kerasdl.harness.results import read_results

CLASSES = {1: "trouser", 5: "sandal", 8: "bag", 9: "ankle_boot"}  # Fashion-MNIST label -> folder name
PER_CLASS_A, PER_CLASS_B = 120, 80
QUICK = ["--epochs", "2", "--width", "8", "--batch-size", "32", "--train-eval-size", "0"]
QUICK += ["--image-size", "28x28", "--color-mode", "grayscale", "--b-train-share", "0.2"]
QUICK += ["--label-issue-folds", "0", "--error-sample", "5"]


def phone_picture(item: np.ndarray, index: int) -> tuple[Image.Image, str]:
    """An item as source B has it: inverted, blurred, 40x40; RGBA PNG or RGB JPEG by turns."""
    picture = ImageOps.invert(Image.fromarray(item)).filter(ImageFilter.GaussianBlur(1.0))
    picture = picture.resize((40, 40), Image.BILINEAR).convert("RGB")
    if index % 2:
        return picture, "jpg"
    rgba = picture.convert("RGBA")
    rgba.putalpha(255)  # opaque: compositing over white leaves the pixels as they are
    return rgba, "png"


@pytest.fixture(scope="module")
def folders(tmp_path_factory, fashion_mnist_all):
    root = tmp_path_factory.mktemp("two_sources")
    source = fashion_mnist_all
    planted = {}
    for label, name in CLASSES.items():
        items = source.images[source.labels == label][:, :, :, 0]
        (root / "A" / name).mkdir(parents=True)
        (root / "B" / name).mkdir(parents=True)
        for i, item in enumerate(items[:PER_CLASS_A]):
            Image.fromarray(item).save(root / "A" / name / f"{i:03d}.png")
        for i, item in enumerate(items[PER_CLASS_A : PER_CLASS_A + PER_CLASS_B]):
            picture, extension = phone_picture(item, i)
            picture.save(root / "B" / name / f"{i:03d}.{extension}")
    # Two pictures of A also in B: a byte-identical PNG, and a copy enlarged to 56x56 and saved as JPEG.
    (root / "B" / "bag" / "copy_exact.png").write_bytes((root / "A" / "bag" / "007.png").read_bytes())
    enlarged = Image.open(root / "A" / "trouser" / "011.png").resize((56, 56), Image.BILINEAR)
    enlarged.save(root / "B" / "trouser" / "copy_recompressed.jpg", quality=85)
    planted["exact"] = {"A:bag/007.png", "B:bag/copy_exact.png"}
    planted["near"] = {"A:trouser/011.png", "B:trouser/copy_recompressed.jpg"}
    # The odd files of a scraped folder.
    (root / "B" / "bag" / "notes.txt").write_text("not a picture")
    whole = io.BytesIO()
    Image.fromarray(np.full((40, 40), 128, np.uint8)).save(whole, "PNG")
    (root / "B" / "sandal" / "truncated.png").write_bytes(whole.getvalue()[:60])
    spare = source.images[source.labels == 5][PER_CLASS_A + PER_CLASS_B, :, :, 0]
    phone_picture(spare, 0)[0].save(root / "B" / "sandal" / "really_a_png.jpg", "PNG")
    return root, planted


def test_two_folders_through_the_command_line(folders, logdir):
    root, planted = folders
    flags = ["--source", f"folder:{root / 'A'}", "--source-b", f"folder:{root / 'B'}", *QUICK]
    with pytest.warns(UserWarning, match="Left out 2 files"):
        assert mismatch.main(["--logdir", str(logdir), *flags, "--run-name", "two"]) == 0
    run_dir = logdir / "mismatch" / "two"
    document = read_results(run_dir)
    results = {**document["details"], **document["metrics"]}
    data = json.loads((run_dir / "data.json").read_text())

    # B differs from A (inverted, blurred): data mismatch is the largest gap.
    decomposition = results["decomposition"]
    assert decomposition["recommendation"]["focus"] == "data_mismatch", decomposition

    # The odd files: one text file and one truncated PNG left out, one PNG named .jpg read.
    files = data["files"][f"folder:{root / 'B'}"]
    assert {reason: count for reason, count in files["left_out"].items() if count} == {
        "not_an_image": 1,
        "unreadable": 1,
    }
    assert files["extension_mismatches"] == 1
    b_examples = len(CLASSES) * PER_CLASS_B + 3  # the two copies and the PNG named .jpg
    composition = data["composition"]
    assert sum(split["B"] for split in composition.values()) == b_examples

    # The copies are found before splitting, and each pair is kept together on the training side.
    duplicates = data["duplicates"]
    groups = [set(group) for group in duplicates["groups"]]
    assert planted["exact"] in groups and planted["near"] in groups
    assert duplicates["removed_by_dedupe"] == 0 and duplicates["found_before_split"]["across_sources"] == 2
    assert results["duplicates"]["across_splits"] == 0
    assert results["duplicates"]["groups"] >= 2
    table = EventAccumulator(str(run_dir / "duplicates")).Reload().Tensors("duplicates/table")
    table = table[0].tensor_proto.string_val[0].decode()
    for copies in planted.values():
        row = next(line for line in table.splitlines() if all(i in line for i in copies))
        assert "dev:" not in row and "test:" not in row  # train or train_dev, the pair together
    assert "In the splits:" in (run_dir / "summary.md").read_text()


def test_two_folders_streamed_from_disk_give_the_same_run(folders, logdir):
    """--memory-budget 0 streams both folders (with the decoded cache): the same splits, copies and errors."""
    root, _ = folders
    flags = ["--source", f"folder:{root / 'A'}", "--source-b", f"folder:{root / 'B'}", *QUICK]
    results, data = {}, {}
    for name, extra in {
        "memory": [],
        "streamed": ["--memory-budget", "0", "--decode-cache", str(logdir / "cache")],
    }.items():
        with pytest.warns(UserWarning, match="Left out 2 files"):
            assert mismatch.main(["--logdir", str(logdir), *flags, *extra, "--run-name", name]) == 0
        document = read_results(logdir / "mismatch" / name)
        results[name] = {**document["details"], **document["metrics"]}
        data[name] = json.loads((logdir / "mismatch" / name / "data.json").read_text())
    assert [files["streamed"] for files in data["streamed"]["files"].values()] == [True, True]
    assert [files["streamed"] for files in data["memory"]["files"].values()] == [False, False]
    for key in ("sizes", "composition", "duplicates", "files"):
        if key == "files":
            for report in data["streamed"][key].values():
                report["streamed"] = False
        assert data["streamed"][key] == data["memory"][key], key
    for key in ("mean", "std"):
        expected = data["memory"]["standardizer"][key]
        assert data["streamed"]["standardizer"][key] == pytest.approx(expected, rel=1e-6), key
    assert len(list((logdir / "cache").glob("*.pixels"))) == 2  # one per folder
    # The same batches in the same order: the same training, up to float summation order.
    for metric in ("train_error", "train_dev_error", "dev_error", "test_error"):
        assert results["streamed"][metric] == pytest.approx(results["memory"][metric], abs=0.02), metric
    assert "Streamed from disk" in (logdir / "mismatch" / "streamed" / "summary.md").read_text()
