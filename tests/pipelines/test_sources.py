import gzip
import shutil
import warnings

import numpy as np
import pytest
from PIL import Image

from pipelines import sources
from pipelines.sources import (
    FASHION_MNIST_CLASSES,
    ImageSource,
    SourceCorruptError,
    SourceMissingError,
    fashion_mnist,
    fashion_mnist_dir,
    image_folder,
    load_source,
    parse_idx,
    tfds_source,
)


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


class TestIdx:
    def test_round_trip(self):
        array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
        np.testing.assert_array_equal(parse_idx(idx_bytes(array)), array)

    def test_rejects_bad_magic(self):
        with pytest.raises(SourceCorruptError, match="bad magic"):
            parse_idx(b"\x01\x02\x08\x01" + b"\x00" * 8)

    def test_rejects_truncated_body(self):
        data = idx_bytes(np.zeros((4, 2), np.uint8))
        with pytest.raises(SourceCorruptError, match="header announces shape"):
            parse_idx(data[:-1])


class TestFashionMnist:
    def test_declared_sizes_dtypes_and_classes(self, fashion_mnist_all):
        train, test = fashion_mnist("train"), fashion_mnist("test")
        assert (len(train), len(test), len(fashion_mnist_all)) == (60_000, 10_000, 70_000)
        assert train.images.shape == (60_000, 28, 28, 1) and train.images.dtype == np.uint8
        assert train.labels.dtype == np.int64
        assert train.class_names == FASHION_MNIST_CLASSES
        np.testing.assert_array_equal(np.bincount(train.labels), [6000] * 10)
        np.testing.assert_array_equal(np.bincount(test.labels), [1000] * 10)
        assert len(set(fashion_mnist_all.ids)) == 70_000

    def test_verification_rejects_a_corrupted_file(self, fashion_mnist_all, tmp_path):
        for path in fashion_mnist_dir().glob("*.gz"):
            shutil.copy(path, tmp_path / path.name)
        target = tmp_path / "t10k-images-idx3-ubyte.gz"
        with gzip.open(target, "rb") as f:
            data = bytearray(f.read())
        data[5000] ^= 0xFF  # one flipped pixel: shapes and counts still pass, the hash must not
        with gzip.open(target, "wb") as f:
            f.write(bytes(data))
        with pytest.raises(SourceCorruptError, match="SHA-256"):
            fashion_mnist("test", data_dir=tmp_path)
        assert len(fashion_mnist("test", data_dir=tmp_path, verify=False)) == 10_000

    def test_verification_accepts_decompressed_files(self, fashion_mnist_all, tmp_path):
        for path in fashion_mnist_dir().glob("t10k*.gz"):
            with gzip.open(path, "rb") as f:
                (tmp_path / path.stem).write_bytes(f.read())
        np.testing.assert_array_equal(
            fashion_mnist("test", data_dir=tmp_path).images, fashion_mnist("test").images
        )

    def test_missing_source_gives_the_clear_message(self, tmp_path):
        with pytest.raises(SourceMissingError, match="apt-get install dataset-fashion-mnist"):
            fashion_mnist("train", data_dir=tmp_path / "nowhere")
        with pytest.raises(SourceMissingError, match="is missing"):
            fashion_mnist("train", data_dir=tmp_path)

    def test_bad_split_is_named(self):
        with pytest.raises(ValueError, match="Received: split='validation'"):
            fashion_mnist("validation")


class TestTfds:
    def test_unprepared_dataset_says_how_to_get_it_without_network(self, tmp_path):
        with pytest.raises(SourceMissingError, match="--download"):
            tfds_source("mnist", data_dir=str(tmp_path))

    def test_unknown_dataset(self, tmp_path):
        with pytest.raises(SourceMissingError, match="no dataset named"):
            tfds_source("no_such_dataset_xyz", data_dir=str(tmp_path))


def write_folder(root, corrupt: bool = True):
    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / label / f"{i}.png")
    if corrupt:
        (root / "cat" / "empty.jpg").write_bytes(b"")
        jpeg = root / "dog" / "truncated.jpg"
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(jpeg, format="JPEG")
        jpeg.write_bytes(jpeg.read_bytes()[:60])
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "dog" / "png_named.jpg", format="PNG")


class TestImageFolder:
    def test_reads_classes_and_skips_corrupt_files_by_name(self, tmp_path):
        write_folder(tmp_path)
        with pytest.warns(UserWarning, match="Left out 2 files") as caught:
            source = image_folder(tmp_path, max_corrupt_fraction=0.5)
        message = str(caught[0].message)
        for name in ("cat/empty.jpg", "dog/truncated.jpg"):
            assert name in message
        # A PNG named .jpg is read by its content, and counted as such.
        assert len(source) == 11 and source.class_names == ("cat", "dog")
        assert source.extension_mismatches == ("dog/png_named.jpg",)
        np.testing.assert_array_equal(np.bincount(source.labels), [5, 6])
        assert {s.path for s in source.skipped} == {"cat/empty.jpg", "dog/truncated.jpg"}
        assert source.skipped_counts["unreadable"] == 2 and sum(source.skipped_counts.values()) == 2

    def test_too_many_corrupt_files_is_an_error(self, tmp_path):
        write_folder(tmp_path)
        with pytest.raises(SourceCorruptError, match="max_corrupt_fraction=0.05"):
            image_folder(tmp_path)

    def test_pixels_survive_and_grayscale_resize(self, tmp_path):
        write_folder(tmp_path, corrupt=False)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            source = image_folder(tmp_path)
        expected = np.asarray(Image.open(tmp_path / "cat" / "0.png"))
        np.testing.assert_array_equal(source.images[source.ids.tolist().index("cat/0.png")], expected)
        small = image_folder(tmp_path, image_size=(4, 6), color_mode="grayscale")
        assert small.images.shape == (10, 4, 6, 1)

    def test_a_large_folder_shows_progress(self, tmp_path, monkeypatch, capsys):
        write_folder(tmp_path, corrupt=False)
        image_folder(tmp_path)
        assert "10/10" not in capsys.readouterr().out  # small: no bar
        monkeypatch.setattr(sources, "FOLDER_PROGRESS_FROM", 10)
        image_folder(tmp_path)
        assert "10/10" in capsys.readouterr().out

    def test_missing_folder(self, tmp_path):
        with pytest.raises(SourceMissingError, match="does not exist"):
            image_folder(tmp_path / "nope")
        with pytest.raises(SourceMissingError, match="no class subfolders"):
            image_folder(tmp_path)

    def test_load_source_by_name(self, tmp_path):
        write_folder(tmp_path, corrupt=False)
        assert len(load_source(f"folder:{tmp_path}")) == 10
        with pytest.raises(ValueError, match="Received: source='cifar'"):
            load_source("cifar")


class TestImageSource:
    def test_rejects_mismatched_lengths(self):
        with pytest.raises(ValueError, match="one entry per example"):
            ImageSource(
                "x", np.zeros((2, 1, 1, 1), np.uint8), np.zeros(3, np.int64), np.array(["a", "b"]), ("c",)
            )
