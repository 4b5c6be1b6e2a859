"""Each kind of file a user's folder holds, against a reference decode computed here with NumPy."""

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pipelines.image_files import (
    REASONS,
    UnusableFile,
    conform,
    decode_image,
    list_image_folder,
    parse_image_size,
    read_image,
    skipped_counts,
)
from pipelines.sources import ImageSource, image_folder

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (6, 9, 3), dtype=np.uint8)  # not square: a rotation changes the shape


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("PNG", {}), ("BMP", {}), ("TIFF", {}), ("WEBP", {"lossless": True})],
)
def test_lossless_formats_give_the_pixels_back(fmt, options):
    pixels, mismatch = decode_image(encoded(Image.fromarray(RGB), fmt, **options), "." + fmt.lower())
    np.testing.assert_array_equal(pixels, RGB)
    assert not mismatch


def test_exif_orientation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    pixels, _ = decode_image(encoded(Image.fromarray(RGB), "PNG", exif=exif))
    np.testing.assert_array_equal(pixels, np.rot90(RGB, k=-1))


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    deep = np.array([[0, 257, 1000], [32768, 65000, 65535]], dtype=np.uint16)
    pixels, _ = decode_image(encoded(Image.fromarray(deep), "PNG"), ".png", color_mode="grayscale")
    np.testing.assert_array_equal(pixels[..., 0], np.round(deep / 257.0).astype(np.uint8))


def test_transparency_is_composited_on_white():
    rgba = np.concatenate([RGB, RNG.integers(0, 256, (6, 9, 1), dtype=np.uint8)], axis=-1)
    pixels, _ = decode_image(encoded(Image.fromarray(rgba, "RGBA"), "PNG"))
    alpha = rgba[..., 3:] / 255.0
    expected = rgba[..., :3] * alpha + 255.0 * (1 - alpha)
    assert np.abs(pixels.astype(float) - expected).max() <= 1.0  # Pillow rounds in 8-bit steps


def test_a_palette_with_a_transparent_colour_and_the_first_gif_frame():
    frames = [Image.fromarray(np.full((4, 5), value, np.uint8), "L").convert("P") for value in (40, 200)]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    pixels, _ = decode_image(data, ".gif", color_mode="grayscale")
    np.testing.assert_array_equal(pixels, np.full((4, 5, 1), 40, np.uint8))  # frame 0, not frame 1
    palette = Image.fromarray(np.array([[0, 1], [1, 0]], np.uint8), "P")
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    pixels, _ = decode_image(encoded(palette, "PNG", transparency=0), ".png")
    np.testing.assert_array_equal(pixels[0, 0], [255, 255, 255])  # transparent red: the white background
    np.testing.assert_array_equal(pixels[0, 1], [0, 0, 255])


def test_cmyk_is_converted():
    cmyk = np.zeros((2, 2, 4), np.uint8)
    cmyk[0, 0] = (255, 0, 0, 0)  # cyan
    cmyk[0, 1] = (0, 0, 0, 255)  # black
    pixels, _ = decode_image(encoded(Image.fromarray(cmyk, "CMYK"), "TIFF"), ".tif")
    np.testing.assert_array_equal(pixels[0, 0], [0, 255, 255])
    np.testing.assert_array_equal(pixels[0, 1], [0, 0, 0])
    np.testing.assert_array_equal(pixels[1, 1], [255, 255, 255])


def test_a_png_named_jpg_is_read_and_reported():
    pixels, mismatch = decode_image(encoded(Image.fromarray(RGB), "PNG"), ".jpg")
    np.testing.assert_array_equal(pixels, RGB)
    assert mismatch


def test_resize_and_grayscale():
    pixels, _ = decode_image(encoded(Image.fromarray(RGB), "PNG"), ".png", "grayscale", image_size=(3, 4))
    assert pixels.shape == (3, 4, 1)
    assert parse_image_size("96x64") == (96, 64)
    with pytest.raises(ValueError, match="HxW"):
        parse_image_size("96")


@pytest.mark.parametrize(
    ("data", "reason", "limit"),
    [
        (b"", "unreadable", None),
        (b"hello, not an image", "not_an_image", None),
        (encoded(Image.fromarray(RGB), "JPEG")[:80], "unreadable", None),
        (encoded(Image.fromarray(RGB), "PNG"), "too_large", 6 * 9 - 1),
    ],
)
def test_unusable_bytes_say_why(data, reason, limit):
    with pytest.raises(UnusableFile) as caught:
        decode_image(data, ".png", max_pixels=limit or 10**6)
    assert caught.value.reason == reason


def test_permission_denied_is_its_own_reason(tmp_path, monkeypatch):
    path = tmp_path / "a.png"
    path.write_bytes(encoded(Image.fromarray(RGB), "PNG"))

    def refuse(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)  # root reads any file: chmod cannot show it
    with pytest.raises(UnusableFile) as caught:
        read_image(path)
    assert caught.value.reason == "permission_denied"


def test_memory_errors_are_not_taken_for_bad_files(monkeypatch):
    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(Image, "open", exhausted)
    with pytest.raises(MemoryError):
        decode_image(b"anything", ".png")


def test_the_folder_scan_counts_every_file_left_out_and_survives_a_link_loop(tmp_path):
    for name in ("cat", "dog"):
        (tmp_path / name / "deeper").mkdir(parents=True)
        Image.fromarray(RGB).save(tmp_path / name / "a.webp", lossless=True)
        Image.fromarray(RGB).save(tmp_path / name / "deeper" / "b.tif")
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"\0")
    (tmp_path / "readme.md").write_text("outside the class folders")
    (tmp_path / "dog" / ".cache").mkdir()
    os.symlink(tmp_path / "cat", tmp_path / "cat" / "deeper" / "loop")  # a folder link back up: a loop
    listing = list_image_folder(tmp_path)
    assert listing.class_names == ("cat", "dog")
    assert listing.files == (
        ("cat/a.webp", 0),
        ("cat/deeper/b.tif", 0),
        ("dog/a.webp", 1),
        ("dog/deeper/b.tif", 1),
    )
    counts = skipped_counts(listing.skipped)
    assert set(counts) == set(REASONS)
    assert counts["not_an_image"] == 1 and counts["hidden"] == 2 and counts["outside_class_folders"] == 1
    with pytest.warns(UserWarning, match="Left out 4 files"):
        source = image_folder(tmp_path)  # webp and tif read; the leftovers named
    assert len(source) == 4 and source.skipped_counts["hidden"] == 2


def test_labels_outside_the_classes_name_the_example():
    images = np.zeros((3, 2, 2, 1), np.uint8)
    with pytest.raises(ValueError, match=r"indices in \[0, 2\).*label 5 for example 'c.png'"):
        ImageSource("mine", images, np.array([0, 1, 5]), np.array(["a.png", "b.png", "c.png"]), ("x", "y"))
    with pytest.raises(ValueError, match="label -1"):
        ImageSource("mine", images, np.array([-1, 1, 0]), np.array(["a", "b", "c"]), ("x", "y"))


def test_in_memory_sources_are_conformed_like_files():
    grey = RNG.integers(0, 256, (2, 6, 9, 1), dtype=np.uint8)
    assert conform(grey) is grey  # nothing asked: untouched
    np.testing.assert_array_equal(conform(grey, color_mode="rgb"), np.repeat(grey, 3, axis=-1))
    luma = conform(RGB[None], color_mode="grayscale")[0, ..., 0]
    expected = RGB @ np.array([0.299, 0.587, 0.114])  # ITU-R 601-2
    assert np.abs(luma - expected).max() <= 1.0
    assert conform(grey, image_size=(3, 4)).shape == (2, 3, 4, 1)
