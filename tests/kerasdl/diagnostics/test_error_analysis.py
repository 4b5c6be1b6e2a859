from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage
import scipy.stats
from PIL import Image

from kerasdl.diagnostics import (
    auto_tags,
    export_sheet,
    import_sheet,
    laplacian_variance,
    rms_contrast,
    tag_table,
    tag_table_markdown,
    top_loss_grid,
    top_losses,
)

FIXTURE = Path(__file__).parent / "data" / "error_sheet.csv"


class TestHandFilledSheet:
    """data/error_sheet.csv: 8 errors ticked by hand the ways people tick cells (x, X, check mark, 1, yes).

    Counted by hand: dog rows 0 and 6 (2/8 = 25%); great cat rows 1, 3, 5 (3/8 = 37.5%); blurry rows 1, 2,
    5, 7 (4/8 = 50%). Row 4's "0" and "no" tick nothing.
    """

    def test_import_reads_any_tag_columns(self):
        sheet = import_sheet(FIXTURE)
        assert list(sheet.tags) == ["dog", "great cat", "blurry"]
        np.testing.assert_array_equal(np.flatnonzero(sheet.tags["dog"]), [0, 6])
        np.testing.assert_array_equal(np.flatnonzero(sheet.tags["great cat"]), [1, 3, 5])
        np.testing.assert_array_equal(np.flatnonzero(sheet.tags["blurry"]), [1, 2, 5, 7])
        assert sheet.comments[3] == "lion on a rainy day" and sheet.index[5] == 101

    def test_percent_of_errors_and_ceilings(self):
        # With 10% dev error, the lesson's ceiling is dev error x share of errors with the tag.
        rows = {row.tag: row for row in tag_table(import_sheet(FIXTURE), dev_error=0.10)}
        assert [r.tag for r in tag_table(import_sheet(FIXTURE), 0.10)] == ["blurry", "great cat", "dog"]
        assert (rows["dog"].count, rows["dog"].share) == (2, 0.25)
        assert rows["great cat"].share == 0.375 and rows["blurry"].share == 0.5
        assert rows["dog"].ceiling == pytest.approx(0.025) and rows["dog"].error_if_fixed == pytest.approx(
            0.075
        )
        assert rows["great cat"].ceiling == pytest.approx(0.0375)
        assert rows["blurry"].error_if_fixed == pytest.approx(0.05)
        text = tag_table_markdown(import_sheet(FIXTURE), 0.10)
        assert "| great cat | 3 | 37.5% | 3.75 | 6.25% |" in text
        # How sure the share is: the 95% Wilson interval of 3 in 8, from scipy.
        interval = scipy.stats.binomtest(3, 8).proportion_ci(0.95, method="wilson")
        assert (rows["great cat"].share_low, rows["great cat"].share_high) == pytest.approx(
            (interval.low, interval.high)
        )
        (great_cat_line,) = [line for line in text.splitlines() if line.startswith("| great cat |")]
        assert great_cat_line.endswith(f"| {100 * interval.low:.1f}-{100 * interval.high:.1f}% |")

    def test_lesson_dog_example(self):
        # "5 of 100 errors are dogs": fixing dogs can at best take 10% dev error to 9.5%.
        sheet = import_sheet(FIXTURE).take(np.zeros(100, dtype=int))  # 100 rows, all copies of row 0 ...
        sheet.tags["dog"] = np.arange(100) < 5  # ... of which 5 are dogs
        (row,) = [r for r in tag_table(sheet, 0.10) if r.tag == "dog"]
        assert row.share == 0.05 and row.error_if_fixed == pytest.approx(0.095)

    def test_not_a_sheet(self, tmp_path):
        path = tmp_path / "other.csv"
        path.write_text("a,b\n1,2\n")
        with pytest.raises(ValueError, match="missing columns"):
            import_sheet(path)


def three_class_fixture():
    """Six 8x8 images, 3 classes; examples 1, 3, 4 and 5 are misclassified."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 8, 8, 1)).astype(np.uint8)
    images[3] = 128  # flat: no detail (blurry) and no contrast
    labels = np.array([0, 0, 1, 1, 2, 2])
    probs = np.array(
        [
            [0.8, 0.1, 0.1],  # right
            [0.2, 0.7, 0.1],  # 0 -> 1
            [0.1, 0.8, 0.1],  # right
            [0.6, 0.3, 0.1],  # 1 -> 0
            [0.1, 0.6, 0.3],  # 2 -> 1
            [0.05, 0.9, 0.05],  # 2 -> 1
        ]
    )
    return images, labels, probs, ("zero", "one", "two")


class TestAutoTags:
    def test_laplacian_variance_matches_scipy_inside_the_border(self):
        image = np.random.default_rng(1).uniform(0, 255, size=(2, 12, 10, 1))
        expected = [scipy.ndimage.laplace(im[..., 0])[1:-1, 1:-1].var() for im in image]
        np.testing.assert_allclose(laplacian_variance(image), expected)

    def test_blur_lowers_laplacian_variance(self):
        sharp = np.random.default_rng(2).uniform(0, 255, size=(1, 28, 28, 1))
        blurred = scipy.ndimage.gaussian_filter(sharp, sigma=(0, 1.5, 1.5, 0))
        assert laplacian_variance(blurred)[0] < 0.1 * laplacian_variance(sharp)[0]

    def test_rms_contrast_by_hand(self):
        half = np.zeros((1, 4, 4, 3))
        half[:, :2] = 255
        assert rms_contrast(half)[0] == pytest.approx(0.5)  # std of {0, 255} halves = 127.5
        assert rms_contrast(np.full((1, 4, 4, 1), 200.0))[0] == 0.0

    def test_sheet_of_errors_with_tags(self):
        images, labels, probs, names = three_class_fixture()
        suspected = np.array([False, False, False, False, False, True])
        sheet = auto_tags(
            images,
            labels,
            probs,
            names,
            ids=np.array(list("abcdef")),
            suspected_wrong_label=suspected,
            pairs=1,
        )
        np.testing.assert_array_equal(sheet.index, [1, 3, 4, 5])
        np.testing.assert_array_equal(sheet.ids, ["b", "d", "e", "f"])
        np.testing.assert_array_equal(sheet.true, ["zero", "one", "two", "two"])
        np.testing.assert_array_equal(sheet.predicted, ["one", "zero", "one", "one"])
        np.testing.assert_allclose(sheet.probability, [0.7, 0.6, 0.6, 0.9])
        # Pairs, counted both ways: zero/one twice (1 and 3), one/two twice (4 and 5); a tie goes to the
        # lower classes.
        assert [name for name in sheet.tags if " vs " in name] == ["zero vs one"]
        np.testing.assert_array_equal(sheet.tags["zero vs one"], [True, True, False, False])
        # The flat image is the only one below the 10% quantile of sharpness and of contrast.
        np.testing.assert_array_equal(sheet.tags["blurry"], [False, True, False, False])
        np.testing.assert_array_equal(sheet.tags["low contrast"], [False, True, False, False])
        np.testing.assert_array_equal(sheet.tags["suspected wrong label"], [False, False, False, True])
        assert sheet.base_rates["blurry"] == pytest.approx(1 / 6)

    def test_rejects_mismatched_inputs(self):
        images, labels, probs, names = three_class_fixture()
        with pytest.raises(ValueError, match="Received: 6 images, 6 labels, probs \\(6, 3\\), 2 classes"):
            auto_tags(images, labels, probs, names[:2])
        with pytest.raises(ValueError, match="Received: blur_quantile=1"):
            auto_tags(images, labels, probs, names, blur_quantile=1)


class TestManualWorkflow:
    def test_export_then_import_round_trips(self, tmp_path):
        images, labels, probs, names = three_class_fixture()
        sheet = auto_tags(images, labels, probs, names, pairs=2)
        sheet.comments[2] = 'odd, "quoted" note'
        path = export_sheet(sheet, tmp_path / "errors.csv", images, extra_tags=("dog", "great cat"))
        back = import_sheet(path)
        for column in ("index", "ids", "true", "predicted", "probability", "comments"):
            np.testing.assert_array_equal(getattr(back, column), getattr(sheet, column))
        assert list(back.tags) == [*sheet.tags, "dog", "great cat"]
        for name, column in sheet.tags.items():
            np.testing.assert_array_equal(back.tags[name], column)
        assert not back.tags["dog"].any()

    def test_user_ticks_come_back(self, tmp_path):
        images, labels, probs, names = three_class_fixture()
        path = export_sheet(auto_tags(images, labels, probs, names), tmp_path / "e.csv", extra_tags=("dog",))
        lines = path.read_text().splitlines()
        header = lines[0].split(",")
        cells = lines[2].split(",")
        cells[header.index("dog")] = "x"  # the person ticks "dog" on row 1
        path.write_text("\n".join([lines[0], lines[1], ",".join(cells), *lines[3:]]) + "\n")
        np.testing.assert_array_equal(import_sheet(path).tags["dog"], [False, True, False, False])

    def test_contact_sheet_holds_the_sheet_rows_in_order(self, tmp_path):
        images, labels, probs, names = three_class_fixture()
        sheet = auto_tags(images, labels, probs, names)
        export_sheet(sheet, tmp_path / "e.csv", images, columns=1)
        png = np.asarray(Image.open(tmp_path / "e.png"))
        scale, caption_lines, line_height = 3, 2, 12
        tile_h = 8 * scale + caption_lines * line_height + 4  # one tile per row with columns=1
        assert png.shape[0] == len(sheet) * tile_h
        for position, index in enumerate(sheet.index):
            top = position * tile_h + 2
            tile = png[top : top + 8 * scale, 2 : 2 + 8 * scale, 0]
            np.testing.assert_array_equal(tile, np.kron(images[index, ..., 0], np.ones((scale, scale))))

    def test_sample_is_seeded_and_ordered(self):
        images, labels, probs, names = three_class_fixture()
        sheet = auto_tags(images, labels, probs, names)
        a, b = sheet.sample(2, seed=5), sheet.sample(2, seed=5)
        np.testing.assert_array_equal(a.index, b.index)
        assert len(a) == 2 and np.all(np.diff(a.index) > 0) and set(a.index) <= set(sheet.index)
        assert len(sheet.sample(100)) == len(sheet)


class TestPictures:
    def test_top_losses_by_hand(self):
        _, labels, probs, _ = three_class_fixture()
        # p(true): 0.8, 0.2, 0.8, 0.3, 0.3, 0.05 -> smallest p (largest loss) at 5, then 1, then 3 and 4
        # (a tie: the lower index first).
        np.testing.assert_array_equal(top_losses(labels, probs, 4), [5, 1, 3, 4])

    def test_top_loss_grid_shows_the_worst_first(self):
        images, labels, probs, names = three_class_fixture()
        grid = top_loss_grid(images, labels, probs, names, k=2, columns=2)
        scale = 3
        first = grid[2 : 2 + 8 * scale, 2 : 2 + 8 * scale, 0]
        np.testing.assert_array_equal(first, np.kron(images[5, ..., 0], np.ones((scale, scale))))
        assert grid.dtype == np.uint8 and grid.shape[-1] == 3
