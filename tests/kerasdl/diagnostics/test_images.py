import numpy as np
import pytest

from kerasdl.diagnostics import confusion_matrix_image, for_summary, image_grid
from kerasdl.diagnostics.images import CARD_WIDTH, LINE_HEIGHT, cell_colour, labelled_rows, row_rates


class TestImageGrid:
    def test_tiles_are_the_upscaled_images_in_order(self):
        images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4, 1) * 10
        grid = image_grid(images, columns=2, scale=2)
        tile_w = 4 * 2 + 4  # no captions: the image width plus 2-pixel margins
        assert grid.shape == (3 * 2 + 4, 2 * tile_w, 3)
        for position in range(2):
            left = position * tile_w + 2
            tile = grid[2 : 2 + 6, left : left + 8]
            expected = np.kron(images[position, ..., 0], np.ones((2, 2), np.uint8))
            for channel in range(3):  # grayscale becomes equal RGB channels
                np.testing.assert_array_equal(tile[..., channel], expected)

    def test_captions_widen_and_heighten_tiles(self):
        images = np.zeros((3, 4, 4, 1), np.uint8)
        plain = image_grid(images, columns=3, scale=1)
        captioned = image_grid(images, ["a much longer caption\nsecond line", "x", "y"], columns=3, scale=1)
        assert captioned.shape[0] == plain.shape[0] + 2 * LINE_HEIGHT
        assert captioned.shape[1] > plain.shape[1]
        assert (captioned < 255).any()  # the ink of the captions

    def test_rejects_caption_mismatch_and_empty_input(self):
        with pytest.raises(ValueError, match="Received: 2 images, 1 captions"):
            image_grid(np.zeros((2, 4, 4, 1), np.uint8), ["x"])
        with pytest.raises(ValueError, match="Received: 0 images"):
            image_grid(np.zeros((0, 4, 4, 1), np.uint8))


class TestConfusionMatrixImage:
    def test_row_rates_by_hand(self):
        np.testing.assert_allclose(row_rates(np.array([[9, 1], [0, 0]])), [[0.9, 0.1], [0.0, 0.0]])

    def test_cells_are_shaded_by_row_rate(self):
        image = confusion_matrix_image(np.array([[9, 1], [0, 10]]), ["a", "b"], cell=30)

        def pixels(colour):
            return int(np.all(image == np.array(colour), axis=-1).sum())

        # Full-recall diagonal cell (10/10) is pure blue, 9/10 nearly so, the 1/10 confusion light red.
        assert cell_colour(1.0, True) == (0, 0, 255) and cell_colour(0.1, False) == (255, 230, 230)
        assert pixels(cell_colour(1.0, True)) > 300
        assert pixels(cell_colour(0.9, True)) > 300
        assert pixels(cell_colour(0.1, False)) > 300
        assert for_summary(image).shape == (1, *image.shape)

    def test_rejects_wrong_shape(self):
        with pytest.raises(ValueError, match="Received: shape=\\(2, 2\\) for 3 classes"):
            confusion_matrix_image(np.zeros((2, 2)), ["a", "b", "c"])


class TestFitsTensorBoardsCard:
    """TensorBoard draws each image CARD_WIDTH wide: a wider grid is shrunk, captions with it."""

    def test_grid_takes_only_the_columns_that_fit(self):
        images = np.zeros((24, 28, 28, 1), np.uint8)
        captions = ["true Ankle boot\npred Sneaker 0.93"] * 24
        wide = image_grid(images, captions, columns=8, scale=3, max_width=None)
        tile_w = wide.shape[1] // 8
        grid = image_grid(images, captions, columns=8, scale=3)
        columns = grid.shape[1] // tile_w
        assert grid.shape[1] == columns * tile_w <= CARD_WIDTH < (columns + 1) * tile_w
        assert grid.shape[0] == -(-24 // columns) * (wide.shape[0] // 3)  # the rows grow instead

    def test_one_column_when_a_single_tile_is_wider(self):
        grid = image_grid(np.zeros((3, 200, 200, 1), np.uint8), columns=8, scale=2)
        assert grid.shape[1] == 2 * 200 + 4 and grid.shape[0] == 3 * (2 * 200 + 4)

    def test_ten_class_confusion_matrix_fits(self):
        names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"] + [
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ]
        image = confusion_matrix_image(np.eye(10, dtype=int) * 50, names)
        assert image.shape[1] <= CARD_WIDTH


class TestLabelledRows:
    def test_each_row_holds_its_images_after_the_label(self):
        a = np.full((3, 4, 5, 1), 10, np.uint8)
        b = np.full((3, 4, 5, 3), 200, np.uint8)
        picture = labelled_rows({"source A": a, "source B": b}, scale=2)
        assert picture.shape[0] == 2 * (4 * 2 + 4) and picture.shape[1] <= CARD_WIDTH
        right = picture.shape[1] - 3 * (5 * 2 + 2)  # where the images start: after the label column
        np.testing.assert_array_equal(picture[2 : 2 + 8, right : right + 10], 10)
        np.testing.assert_array_equal(picture[12 + 2 : 12 + 10, right : right + 10], 200)
        label_column = picture[:, :right]
        assert (label_column < 128).any()  # the labels are written

    def test_keeps_what_fits_and_rejects_mixed_sizes(self):
        picture = labelled_rows({"A": np.zeros((40, 28, 28, 1), np.uint8)}, scale=2)
        assert picture.shape[1] <= CARD_WIDTH
        with pytest.raises(ValueError, match="one size"):
            labelled_rows({"A": np.zeros((2, 4, 4, 1), np.uint8), "B": np.zeros((2, 5, 4, 1), np.uint8)})
