"""A folder streamed from disk against the same folder read into memory: same examples, splits and batches."""

import warnings

import numpy as np
import pytest
from PIL import Image

from pipelines import streaming
from pipelines.datasets import to_dataset
from pipelines.normalize import Standardizer
from pipelines.sources import ImageSource, image_folder
from pipelines.splits import mismatched_split
from pipelines.streaming import StreamedImages, parse_memory_size, should_stream

RNG = np.random.default_rng(3)
SIZE = (20, 24)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """3 classes x 24 pictures in the formats users have, plus files a scraped folder holds."""
    root = tmp_path_factory.mktemp("streamed")
    formats = ["png", "jpg", "bmp", "webp", "tif", "gif"]
    for label, name in enumerate(["cat", "dog", "owl"]):
        (root / name).mkdir()
        for i in range(24):
            pixels = np.clip(RNG.normal(80 * label + 40, 40, (*SIZE, 3)), 0, 255).astype(np.uint8)
            picture = Image.fromarray(pixels)
            if i % 7 == 3:
                picture = picture.convert("RGBA")
                picture.putalpha(128)  # composited over white
            picture.save(root / name / f"{i:02d}.{formats[i % len(formats)]}")
    Image.fromarray(RNG.integers(0, 256, (*SIZE, 3), dtype=np.uint8)).save(root / "dog" / "png.jpg", "PNG")
    whole = root / "owl" / "broken.png"
    Image.fromarray(np.full((*SIZE, 3), 9, np.uint8)).save(whole)
    whole.write_bytes(whole.read_bytes()[:60])  # truncated: unreadable
    (root / "cat" / "notes.txt").write_text("not a picture")
    return root


def load(folder, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the left-out files, tested in test_image_files
        return image_folder(folder, **options)


def test_a_streamed_folder_holds_the_examples_and_pixels_of_the_in_memory_one(folder):
    in_memory, streamed = load(folder), load(folder, memory_budget=0)
    assert isinstance(in_memory.images, np.ndarray)
    assert isinstance(streamed.images, StreamedImages)
    assert streamed.images.shape == in_memory.images.shape
    np.testing.assert_array_equal(streamed.ids, in_memory.ids)
    np.testing.assert_array_equal(streamed.labels, in_memory.labels)
    assert streamed.skipped_counts == in_memory.skipped_counts
    assert streamed.skipped_counts["not_an_image"] == 1 and streamed.skipped_counts["unreadable"] == 1
    assert streamed.extension_mismatches == in_memory.extension_mismatches == ("dog/png.jpg",)
    np.testing.assert_array_equal(np.asarray(streamed.images), in_memory.images)


def test_views_read_what_numpy_indexing_gives(folder):
    in_memory, streamed = load(folder), load(folder, memory_budget=0)
    mask = np.arange(len(in_memory)) % 3 == 1
    order = np.array([5, 0, 70, 5, 33])
    np.testing.assert_array_equal(np.asarray(streamed.images[mask]), in_memory.images[mask])
    np.testing.assert_array_equal(
        np.asarray(streamed.images[10:20][order[:2]]), in_memory.images[10:20][[5, 0]]
    )
    np.testing.assert_array_equal(streamed.images.read(order), in_memory.images[order])
    np.testing.assert_array_equal(streamed.images[-1], in_memory.images[-1])
    extra = RNG.integers(0, 256, (4, *SIZE, 3), dtype=np.uint8)
    joined = StreamedImages.concatenate([streamed.images[:6], extra, streamed.images[6:9]])
    np.testing.assert_array_equal(
        np.asarray(joined), np.concatenate([in_memory.images[:6], extra, in_memory.images[6:9]])
    )


def test_same_split_assignment_statistics_and_first_batch(folder):
    """Source A streamed (and B in memory) against both in memory, with the main job's split and seed."""
    in_memory, streamed = load(folder), load(folder, memory_budget=0)
    half = np.arange(len(in_memory)) % 2 == 0
    b = in_memory.take(~half)
    expected = mismatched_split(in_memory.take(half), b, 0.5, 0.1, salt="mismatch/7")
    split = mismatched_split(streamed.take(half), b, 0.5, 0.1, salt="mismatch/7")
    assert isinstance(split.train.images, StreamedImages)  # A's files and B's arrays, still unread
    for name, part in split.as_dict().items():
        np.testing.assert_array_equal(part.ids, expected.as_dict()[name].ids)
    standardizer = Standardizer.fit(split.train.images)
    reference = Standardizer.fit(expected.train.images)
    np.testing.assert_allclose(standardizer.mean, reference.mean, rtol=1e-6)
    np.testing.assert_allclose(standardizer.std, reference.std, rtol=1e-6)
    first = next(iter(to_dataset(split.train, 16, shuffle=True, seed=7, standardizer=standardizer)))
    wanted = next(iter(to_dataset(expected.train, 16, shuffle=True, seed=7, standardizer=reference)))
    np.testing.assert_array_equal(first[1], wanted[1])
    np.testing.assert_allclose(first[0], wanted[0], rtol=1e-5, atol=1e-5)


def test_batches_are_read_from_disk_never_the_whole_array(folder, monkeypatch):
    streamed = load(folder, memory_budget=0)

    def whole(*args, **kwargs):
        raise AssertionError("the whole streamed array was decoded at once")

    monkeypatch.setattr(StreamedImages, "__array__", whole)
    seen = np.concatenate([labels for _, labels in to_dataset(streamed, 10, shuffle=True, seed=1)])
    np.testing.assert_array_equal(np.sort(seen), np.sort(streamed.labels))


def test_the_decoded_cache_is_found_again_and_refreshed_when_a_file_changes(folder, tmp_path, monkeypatch):
    cache, expected = tmp_path / "cache", load(folder).images
    first = load(folder, memory_budget=0, cache_dir=cache)
    assert first.images.stores[0].cache is not None
    assert sorted(p.suffix for p in cache.iterdir()) == [".json", ".pixels"]

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although the cache holds the pixels")

    monkeypatch.setattr(streaming, "read_image", no_decoding)
    again = load(folder, memory_budget=0, cache_dir=cache)
    np.testing.assert_array_equal(np.asarray(again.images), expected)
    assert again.skipped_counts == first.skipped_counts and again.extension_mismatches == ("dog/png.jpg",)
    monkeypatch.undo()

    changed = folder / "cat" / "00.png"
    original = changed.read_bytes()
    try:
        Image.fromarray(np.zeros((*SIZE, 3), np.uint8)).save(changed)
        refreshed = load(folder, memory_budget=0, cache_dir=cache)
        assert len(list(cache.glob("*.pixels"))) == 2
        position = list(refreshed.ids).index("cat/00.png")
        assert refreshed.images[position].max() == 0
    finally:
        changed.write_bytes(original)


def test_a_file_that_changes_after_the_scan_is_named(folder, tmp_path):
    copy = tmp_path / "copy"
    (copy / "a").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((*SIZE, 3), i, np.uint8)).save(copy / "a" / f"{i}.png")
    streamed = load(copy, memory_budget=0)
    (copy / "a" / "1.png").write_bytes(b"gone")
    with pytest.raises(RuntimeError, match="1.png was readable when the folder was scanned"):
        streamed.images.read([1])


def test_the_memory_budget_decides(folder):
    count, shape = 73, (*SIZE, 3)
    assert should_stream(count, shape, count * int(np.prod(shape)) - 1)
    assert not should_stream(count, shape, count * int(np.prod(shape)))
    listed = 74 * 20 * 24 * 3  # decided before decoding: the truncated PNG counts
    assert isinstance(load(folder, memory_budget=listed - 1).images, StreamedImages)
    assert isinstance(load(folder, memory_budget=listed).images, np.ndarray)
    assert isinstance(load(folder).images, np.ndarray)  # a quarter of this machine's memory is plenty


@pytest.mark.parametrize(
    ("text", "size"), [("4GB", 4 * 10**9), ("512MiB", 512 * 2**20), ("1.5 gb", 1_500_000_000), ("100", 100)]
)
def test_memory_sizes(text, size):
    assert parse_memory_size(text) == size


@pytest.mark.parametrize("text", ["lots", "4 parsecs", "0GB", "-1GB"])
def test_bad_memory_sizes_name_the_value(text):
    with pytest.raises(ValueError, match=repr(text).replace(".", r"\.")):
        parse_memory_size(text)


def test_a_streamed_source_is_still_an_image_source():
    images = RNG.integers(0, 256, (5, *SIZE, 3), dtype=np.uint8)
    streamed = StreamedImages.concatenate([images])
    with pytest.raises(ValueError, match="label 9 for example 'e'"):
        ImageSource("s", streamed, np.array([0, 1, 1, 0, 9]), np.array(list("abcde")), ("x", "y"))
    source = ImageSource("s", streamed, np.array([0, 1, 1, 0, 1]), np.array(list("abcde")), ("x", "y"))
    part = source.take(np.array([True, False, True, False, True]))
    assert source.image_shape == (*SIZE, 3) and isinstance(part.images, StreamedImages)
    np.testing.assert_array_equal(np.asarray(part.images), images[[0, 2, 4]])
