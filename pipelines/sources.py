"""Data sources: offline Fashion-MNIST, any tfds dataset, an image folder.

Every source returns an `ImageSource`: uint8 images [N, H, W, C], int64
labels, a stable identity string per example (what the splits hash) and the
class names. `load_source("fashion_mnist")`, `load_source("tfds:cifar10")` and
`load_source("folder:/path/to/images")` are the three forms a user types.

A source that is not there raises `SourceMissingError`, whose message says
what is missing and how to get it; experiment scripts print it as one line.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kerasdl.training.io import atomic_write_bytes
from pipelines.image_files import (
    COLOR_MODES,
    MAX_PIXELS,
    READABLE_EXTENSIONS,
    SkippedFile,
    conform,
    list_image_folder,
    skipped_counts,
)
from pipelines.streaming import (
    DecodedCache,
    DecodedFiles,
    FileStore,
    StreamedImages,
    decode_files,
    should_stream,
)

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
# SHA-256 of the *decompressed* IDX files. Debian recompressed the .gz files,
# so their bytes (and tfds' recorded checksums) differ from upstream, while the
# content is the same: verify the content.
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
_FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_FASHION_MNIST_SIZES = {"train": 60_000, "test": 10_000}


class SourceMissingError(RuntimeError):
    """A data source is not on this machine; the message says how to get it."""


class SourceCorruptError(ValueError):
    """A data source is there but its content fails verification."""


@dataclass(frozen=True)
class ImageSource:
    """Labelled images, in memory or streamed from disk.

    Attributes:
        name: where the examples come from, e.g. "fashion_mnist".
        images: uint8 array [N, H, W, C], or a `pipelines.streaming.StreamedImages`
            of that shape for a folder bigger than memory.
        labels: int64 array [N] of class indices.
        ids: array [N] of identity strings, unique and stable per example.
        class_names: the name of each class index.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    ids: np.ndarray
    class_names: tuple[str, ...]

    def __post_init__(self):
        n = len(self.images)
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(
                "images must be uint8 [N, H, W, C]. "
                f"Received: shape={self.images.shape}, dtype={self.images.dtype}"
            )
        if len(self.labels) != n or len(self.ids) != n:
            raise ValueError(
                f"images, labels and ids must have one entry per example. "
                f"Received: {n} images, {len(self.labels)} labels, {len(self.ids)} ids"
            )
        outside = np.flatnonzero((self.labels < 0) | (self.labels >= len(self.class_names)))
        if len(outside):
            first, classes = outside[0], len(self.class_names)
            raise ValueError(
                f"labels must be class indices in [0, {classes}) ({classes} class names) in {self.name}. "
                f"Received: label {self.labels[first]} for example {str(self.ids[first])!r} "
                f"({len(outside) - 1} more outside the range)"
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def take(self, indices: np.ndarray, name: str | None = None) -> ImageSource:
        """The examples at `indices` (an index array or a boolean mask)."""
        return ImageSource(
            name=name or self.name,
            images=self.images[indices],
            labels=self.labels[indices],
            ids=self.ids[indices],
            class_names=self.class_names,
        )

    def replace(self, **changes) -> ImageSource:
        """A copy with some fields replaced (e.g. synthesized images)."""
        fields = dict(
            name=self.name, images=self.images, labels=self.labels, ids=self.ids, class_names=self.class_names
        )
        fields.update(changes)
        return ImageSource(**fields)

    @staticmethod
    def concatenate(sources: list[ImageSource], name: str) -> ImageSource:
        """The examples of several sources with the same classes, one after another."""
        if len({s.class_names for s in sources}) != 1:
            raise ValueError(
                f"Cannot concatenate sources with different classes: {[s.name for s in sources]}"
            )
        if len({s.image_shape for s in sources}) != 1:
            raise ValueError(f"Cannot concatenate images of shapes {[s.image_shape for s in sources]}")
        if any(isinstance(s.images, StreamedImages) for s in sources):
            images = StreamedImages.concatenate([s.images for s in sources])  # still on disk
        else:
            images = np.concatenate([s.images for s in sources])
        return ImageSource(
            name=name,
            images=images,
            labels=np.concatenate([s.labels for s in sources]),
            ids=np.concatenate([s.ids for s in sources]),
            class_names=sources[0].class_names,
        )


# --------------------------------------------------------------------------- IDX


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    """Parses the IDX format (LeCun's MNIST files) into a NumPy array.

    Header: two zero bytes, a type code (0x08 = uint8), the number of
    dimensions, then one big-endian uint32 per dimension.
    """
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise SourceCorruptError(f"{name} is not an IDX file (bad magic number)")
    if data[2] != 0x08:
        raise SourceCorruptError(
            f"{name}: only unsigned-byte IDX files are supported. Received: type code {data[2]:#x}"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape)) if shape else 0
    if len(data) - header != expected:
        raise SourceCorruptError(
            f"{name}: header announces shape {shape} ({expected} bytes) "
            f"but the file holds {len(data) - header} bytes"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _read_maybe_gzipped(directory: Path, stem: str) -> bytes:
    for candidate, opener in ((directory / f"{stem}.gz", gzip.open), (directory / stem, open)):
        if candidate.exists():
            try:
                with opener(candidate, "rb") as f:
                    return f.read()
            except (OSError, EOFError) as error:
                raise SourceCorruptError(f"{candidate} cannot be decompressed: {error}") from error
    raise SourceMissingError(_fashion_mnist_missing_message(directory, stem))


def _fashion_mnist_missing_message(directory: Path, stem: str) -> str:
    return (
        f"Fashion-MNIST is not on this machine: {directory / stem}.gz is missing. "
        "Install Debian's package with `apt-get install dataset-fashion-mnist` (or run `make data`), "
        "or put the four IDX files in a folder and pass it with --data-dir or KERASDL_FASHION_MNIST_DIR."
    )


def data_home() -> Path:
    """The folder of the data files unpacked from PyPI packages (`scripts/install_pypi_data.py`).

    `$KERASDL_DATA_DIR`, or `~/.cache/kerasdl`: `gensim-4.3.3/` holds the
    Google analogy set and word-similarity ratings, `vader-3.3.2/` the
    human-rated sentiment texts, `scikit-image-0.25.2/` the sample photos
    and textures of style transfer. `make data` fills it.
    """
    return Path(os.environ.get("KERASDL_DATA_DIR") or Path.home() / ".cache" / "kerasdl")


def fashion_mnist_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder holding the Fashion-MNIST IDX files.

    `data_dir`, else $KERASDL_FASHION_MNIST_DIR, else Debian's location.
    """
    return Path(data_dir or os.environ.get("KERASDL_FASHION_MNIST_DIR") or FASHION_MNIST_DIR)


@functools.lru_cache(maxsize=4)
def _load_fashion_mnist_split(directory: Path, split: str, verify: bool) -> tuple[np.ndarray, np.ndarray]:
    image_stem, label_stem = _FASHION_MNIST_FILES[split]
    arrays = []
    for stem in (image_stem, label_stem):
        raw = _read_maybe_gzipped(directory, stem)
        if verify:
            digest = hashlib.sha256(raw).hexdigest()
            if digest != FASHION_MNIST_SHA256[stem]:
                raise SourceCorruptError(
                    f"{directory / stem}: SHA-256 of the decompressed content is {digest}, "
                    f"expected {FASHION_MNIST_SHA256[stem]}. The file is corrupt or not Fashion-MNIST; "
                    "reinstall it with `apt-get install --reinstall dataset-fashion-mnist`."
                )
        arrays.append(parse_idx(raw, str(directory / stem)))
    images, labels = arrays
    n = _FASHION_MNIST_SIZES[split]
    if images.shape != (n, 28, 28) or labels.shape != (n,):
        raise SourceCorruptError(
            f"Fashion-MNIST {split}: expected images (n, 28, 28) and labels (n,) with n={n}. "
            f"Received: images {images.shape}, labels {labels.shape}"
        )
    counts = np.bincount(labels, minlength=10)
    if verify and (len(counts) != 10 or not np.all(counts == n // 10)):
        raise SourceCorruptError(
            f"Fashion-MNIST {split}: expected {n // 10} examples of each of 10 classes. "
            f"Received counts {counts.tolist()}"
        )
    images = images[..., None].copy()
    labels = labels.astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def fashion_mnist(
    split: str = "train", data_dir: str | os.PathLike | None = None, verify: bool = True
) -> ImageSource:
    """Fashion-MNIST from the IDX files, offline, content-verified.

    Verification (on by default): the SHA-256 of each decompressed file, the
    shapes (60000/10000 images of 28x28) and the per-class counts
    (6000/1000 of each of the 10 classes).

    Args:
        split: "train" (60,000), "test" (10,000) or "all" (70,000).
        data_dir: the folder with the IDX files (.gz or decompressed); see
            `fashion_mnist_dir`.
        verify: check the content as above.

    Returns:
        An `ImageSource` with ids "fashion_mnist/<split>/<index>".
    """
    if split not in ("train", "test", "all"):
        raise ValueError(f"split must be 'train', 'test' or 'all'. Received: split={split!r}")
    directory = fashion_mnist_dir(data_dir).resolve()
    if not directory.is_dir():
        raise SourceMissingError(_fashion_mnist_missing_message(directory, _FASHION_MNIST_FILES["train"][0]))
    parts = []
    for part in ("train", "test") if split == "all" else (split,):
        images, labels = _load_fashion_mnist_split(directory, part, verify)
        ids = np.array([f"fashion_mnist/{part}/{i:05d}" for i in range(len(labels))])
        parts.append(ImageSource("fashion_mnist", images, labels, ids, FASHION_MNIST_CLASSES))
    return parts[0] if len(parts) == 1 else ImageSource.concatenate(parts, "fashion_mnist")


# -------------------------------------------------------------------------- tfds


def prepared_tfds_builder(
    name: str, data_dir: str | None, download: bool, offline: str, how: str = "--download"
):
    """The tfds builder of `name`, prepared: downloaded only when `download` is set.

    The one place kerasdl opens a tfds dataset (images, text, sentiment,
    detection). A missing or unprepared dataset, or a failed download, raises
    `SourceMissingError`, whose message ends with `offline` (what to use
    without the network); `how` is how to allow the download.
    """
    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # tfds raises its own DatasetNotFoundError subclasses
        raise SourceMissingError(f"tfds has no dataset named {name!r}: {error}") from error
    if not download and not builder.is_prepared():
        raise SourceMissingError(
            f"tfds dataset {name!r} is not prepared in {builder.data_dir}. With network access, pass "
            f"{how} to fetch it once; offline, {offline}."
        )
    if download:
        try:
            builder.download_and_prepare()
        except Exception as error:  # no network: tfds raises many types
            raise SourceMissingError(
                f"tfds could not download {name!r} ({type(error).__name__}: {error}); offline, {offline}."
            ) from error
    return builder


def tfds_source(
    name: str, split: str = "train", data_dir: str | None = None, download: bool = False
) -> ImageSource:
    """Any image-classification dataset of TensorFlow Datasets, by name.

    Args:
        name: the tfds name, e.g. "cifar10" or "mnist".
        split: a tfds split expression, e.g. "train" or "train[:10%]".
        data_dir: tfds' data directory (default: tfds' own, ~/tensorflow_datasets).
        download: allow downloading. Off by default: kerasdl never touches
            the network unless asked, and a dataset that is not prepared
            locally raises `SourceMissingError` saying so.
    """
    import tensorflow_datasets as tfds

    builder = prepared_tfds_builder(
        name, data_dir, download,
        offline="use the default Fashion-MNIST source or an image folder (folder:/path)",
        how="--download (or tfds_source(..., download=True))",
    )  # fmt: skip
    features = builder.info.features
    image_key = next((k for k, f in features.items() if isinstance(f, tfds.features.Image)), None)
    label_key = next((k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)), None)
    if image_key is None or label_key is None:
        raise ValueError(f"tfds dataset {name!r} has no image and class-label features: {list(features)}")
    data = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1, shuffle_files=False))
    images, labels = np.asarray(data[image_key]), np.asarray(data[label_key]).astype(np.int64)
    if images.ndim == 3:
        images = images[..., None]
    ids = np.array([f"tfds:{name}/{split}/{i:07d}" for i in range(len(labels))])
    return ImageSource(f"tfds:{name}", images.astype(np.uint8), labels, ids, tuple(features[label_key].names))


# ------------------------------------------------------------------ image folder


FOLDER_PROGRESS_FROM = 2000  # image files from which reading a folder shows a progress bar


def image_folder(
    path: str | os.PathLike,
    image_size: tuple[int, int] | None = None,
    color_mode: str = "rgb",
    max_corrupt_fraction: float = 0.05,
    max_pixels: int = MAX_PIXELS,
    memory_budget: int | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> ImageSource:
    """Images in one subfolder per class (`path/<class name>/<image>`), read by `pipelines.image_files`.

    Every file that is not used is counted with its reason (not an image,
    hidden, outside the class folders, unreadable, no permission, too large)
    and named in a warning; more than `max_corrupt_fraction` of the image
    files being unreadable is an error, since that means something is wrong
    with the folder rather than with a few files. Files whose content is
    another format than their extension says are read and counted.

    When the decoded pixels would take more than `memory_budget` bytes, the
    images stream (`pipelines.streaming`): the files are decoded once to
    check them (and to fill the cache in `cache_dir`), and then whenever a
    batch needs them. The examples, ids, labels and skipped files are the
    same either way.

    Args:
        path: the root folder.
        image_size: (height, width) to resize every image to; None keeps the
            size, which must then be the same for all images.
        color_mode: "rgb" or "grayscale".
        max_corrupt_fraction: the share of unreadable image files tolerated.
        max_pixels: the decompression-bomb limit (pixels per image).
        memory_budget: bytes of decoded pixels above which the images
            stream; None: `pipelines.streaming.default_memory_budget()`, 0:
            always stream.
        cache_dir: a folder for the decoded cache of a streamed folder
            (found again by later runs while the files are unchanged);
            None decodes the files at every read.

    Returns:
        An `ImageSource` whose ids are the files' paths relative to `path`
        (its `images` a `StreamedImages` when streaming); `.skipped` lists
        the files left out (`SkippedFile`), `.skipped_counts` counts them by
        reason and `.extension_mismatches` names the files read despite a
        wrong extension.
    """
    if color_mode not in COLOR_MODES:
        raise ValueError(f"color_mode must be one of {COLOR_MODES}. Received: color_mode={color_mode!r}")
    if not 0 <= max_corrupt_fraction <= 1:
        raise ValueError(
            f"max_corrupt_fraction must be in [0, 1]. Received: max_corrupt_fraction={max_corrupt_fraction}"
        )
    if memory_budget is not None and memory_budget < 0:
        raise ValueError(f"memory_budget must be >= 0 bytes or None. Received: memory_budget={memory_budget}")
    root = Path(path)
    if not root.is_dir():
        raise SourceMissingError(
            f"Image folder {root} does not exist. Expected {root}/<class name>/<image files>."
        )
    listing = list_image_folder(root)
    if not listing.class_names:
        raise SourceMissingError(
            f"Image folder {root} has no class subfolders. Expected {root}/<class name>/<image files>."
        )
    if not listing.files:
        raise SourceMissingError(
            f"Image folder {root} has no image files ({', '.join(READABLE_EXTENSIONS)}); "
            f"left out: {skipped_counts(listing.skipped)}."
        )
    paths = [relative for relative, _ in listing.files]
    stream = should_stream(len(paths), _decoded_shape(root, paths, image_size, color_mode), memory_budget)
    found = _decode_folder(
        root, paths, color_mode, image_size, max_pixels, stream, cache_dir if stream else None
    )
    unreadable = [SkippedFile(paths[i], error.reason, error.detail) for i, error in found.unusable]
    skipped = (*listing.skipped, *unreadable)
    if skipped:
        listing_text = "; ".join(
            f"{s.path} ({s.reason}{': ' + s.detail if s.detail else ''})" for s in skipped[:20]
        )
        more = f"; and {len(skipped) - 20} more" if len(skipped) > 20 else ""
        counts = {reason: count for reason, count in skipped_counts(skipped).items() if count}
        message = f"Left out {len(skipped)} files in {root} {counts}: {listing_text}{more}"
        if len(unreadable) > max_corrupt_fraction * len(listing.files):
            raise SourceCorruptError(
                f"{message}. {len(unreadable)} of {len(listing.files)} image files could not be used, more "
                f"than max_corrupt_fraction={max_corrupt_fraction}."
            )
        warnings.warn(message, stacklevel=2)
    if not found.usable:
        raise SourceMissingError(f"Image folder {root} has no readable image.")
    if len(found.shapes) > 1:
        raise ValueError(
            f"Images in {root} have different sizes {sorted(found.shapes)[:5]}: give one size to resize them "
            "to, --image-size HxW on the command line (image_size=(height, width) in Python)."
        )
    if stream:
        store = FileStore(root, tuple(paths), next(iter(found.shapes)), color_mode, image_size, max_pixels,
                          found.cache)  # fmt: skip
        images = StreamedImages.of_files(store, np.array(found.usable, np.int64))
    else:
        images = np.stack(found.pixels)
    source = ImageSource(
        f"folder:{root}",
        images,
        np.array([listing.files[i][1] for i in found.usable], dtype=np.int64),
        np.array([paths[i] for i in found.usable]),
        listing.class_names,
    )
    object.__setattr__(source, "skipped", skipped)
    object.__setattr__(source, "skipped_counts", skipped_counts(skipped))
    object.__setattr__(source, "extension_mismatches", tuple(paths[i] for i in found.mismatched))
    return source


def _decoded_shape(
    root: Path, paths: list[str], image_size: tuple[int, int] | None, color_mode: str
) -> tuple[int, int, int]:
    """The shape a decoded image will have: from `image_size`, else from the first file whose header opens."""
    channels = 1 if color_mode == "grayscale" else 3
    if image_size is not None:
        return (*image_size, channels)
    from PIL import Image

    for relative in paths[:100]:
        try:
            with Image.open(root / relative) as image:
                return (image.height, image.width, channels)
        except (OSError, SyntaxError, ValueError):
            continue  # the decoding pass reports it
    return (0, 0, channels)


def _decode_folder(
    root: Path,
    paths: list[str],
    color_mode: str,
    image_size: tuple[int, int] | None,
    max_pixels: int,
    stream: bool,
    cache_dir: str | os.PathLike | None,
) -> DecodedFiles:
    """`decode_files` with a progress bar, or what an earlier pass wrote beside its cache in `cache_dir`."""
    settings = {"root": str(root.resolve()), "color_mode": color_mode, "max_pixels": max_pixels,
                "image_size": None if image_size is None else list(image_size)}  # fmt: skip
    description = pixels = None
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        name = DecodedCache.fingerprint(root, paths, settings)
        description, pixels = Path(cache_dir) / f"{name}.json", Path(cache_dir) / f"{name}.pixels"
        if description.exists() and pixels.exists():
            return DecodedFiles.from_json(json.loads(description.read_text()), pixels)
    if pixels is not None:
        print(f"Decoding {len(paths):,} files of {root} once, into the cache {pixels}", flush=True)
    bar = None
    if len(paths) >= FOLDER_PROGRESS_FROM:
        import keras  # only here: reading Fashion-MNIST or a small folder need not load it

        bar = keras.utils.Progbar(len(paths), verbose=1 if sys.stdout.isatty() else 2, unit_name="file")
    found = decode_files(root, paths, color_mode, image_size, max_pixels, keep_pixels=not stream,
                         cache_path=pixels, progress=None if bar is None else bar.update)  # fmt: skip
    if found.cache is not None:
        atomic_write_bytes(description, json.dumps(found.to_json()).encode())
    return found


# ---------------------------------------------------------------------- by name


def load_source(
    spec: str,
    split: str = "all",
    data_dir: str | None = None,
    download: bool = False,
    image_size: tuple[int, int] | None = None,
    color_mode: str | None = None,
    memory_budget: int | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> ImageSource:
    """A source from the string a user types on the command line.

    - "fashion_mnist": the offline Debian files (`split` "train", "test" or "all").
    - "tfds:<name>": a tfds dataset (`split` "all" means every split tfds has).
    - "folder:<path>": an image folder (`split` is ignored).

    `image_size` (height, width) and `color_mode` ("rgb" or "grayscale")
    resize and convert every image (bilinear, antialiased; greyscale is
    ITU-R 601-2 luma), for any form; None keeps what the source has (a
    folder's images must then all have one size; its colour mode defaults
    to RGB). A folder whose decoded pixels exceed `memory_budget` bytes
    streams from disk, with its decoded cache in `cache_dir`
    (`image_folder`); the other forms are read into memory.
    """
    if spec.startswith("folder:"):
        return image_folder(
            spec[len("folder:") :],
            image_size=image_size,
            color_mode=color_mode or "rgb",
            memory_budget=memory_budget,
            cache_dir=cache_dir,
        )
    source = _load_in_memory_source(spec, split, data_dir, download)
    return source.replace(images=conform(source.images, image_size, color_mode))


def _load_in_memory_source(spec: str, split: str, data_dir: str | None, download: bool) -> ImageSource:
    if spec == "fashion_mnist":
        return fashion_mnist(split, data_dir=data_dir)
    if spec.startswith("tfds:"):
        name = spec[len("tfds:") :]
        if split != "all":
            return tfds_source(name, split, data_dir=data_dir, download=download)
        import tensorflow_datasets as tfds

        try:
            splits = sorted(tfds.builder(name, data_dir=data_dir).info.splits)
        except Exception as error:
            raise SourceMissingError(f"tfds has no dataset named {name!r}: {error}") from error
        return ImageSource.concatenate(
            [tfds_source(name, s, data_dir=data_dir, download=download) for s in splits], spec
        )
    raise ValueError(
        "Unknown source. Expected 'fashion_mnist', 'tfds:<name>' or 'folder:<path>'. "
        f"Received: source={spec!r}"
    )
