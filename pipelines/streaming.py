"""Image folders bigger than memory: images that stay on disk and are decoded when a batch needs them.

Course 3's setup has 200,000 web images beside 10,000 from the app; decoded,
a folder like that may not fit in memory. `pipelines.sources.image_folder`
then returns an `ImageSource` whose `images` is a `StreamedImages`: an
array-like uint8 [N, H, W, C] that holds where each image is, not its
pixels.

- Indexing it with a slice, an index array or a mask gives another
  `StreamedImages`, so splits and subsets cost nothing. They are assigned
  from the ids (the files' relative paths) alone, as in memory.
- An integer index, `read(positions)` and `np.asarray` decode.
- `pipelines.datasets.to_dataset` reads each batch in a parallel tf.data map
  with the decoder the in-memory path uses (`pipelines.image_files`), so a
  seed gives the same batches either way.
- Statistics (`Standardizer.fit`) and content hashes
  (`kerasdl.diagnostics.duplicates`) take it a chunk at a time.

A `StreamedImages` may also hold in-memory parts (`ImageSource.concatenate`
of a streamed source A and a synthesized source B), each part in a store of
its own.

`decode_files` reads a folder's files once, on every core and a chunk at a
time, for both paths: in memory it keeps the pixels; streaming, it only
checks each file (unreadable files are left out as in memory, sizes must
agree) and, given a `cache_dir`, writes the pixels to a `DecodedCache`: one
file of fixed-size records that later reads take by offset instead of
decoding again. A cache is found again by a fingerprint of the folder's
listing (paths, sizes, modification times) and the decoding settings.

`should_stream` decides: stream when the decoded pixels would exceed the
memory budget (`default_memory_budget`: a quarter of the machine's memory).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.image_files import UnusableFile, read_image

CHUNK = 512  # files decoded together: bounds the memory a pass over a folder holds
CACHE_FORMAT = 1  # bump when the record layout changes: old caches are then not found
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip


def parse_memory_size(text: str) -> int:
    """ "2GB", "512MiB", "1.5gb" or a number of bytes -> bytes (positive)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", str(text))
    if not match or match.group(2).lower() not in _UNITS:
        raise ValueError(
            f"a memory size must be a number with a unit, e.g. 4GB or 512MiB. Received: {text!r}"
        )
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size < 1:
        raise ValueError(f"a memory size must be positive. Received: {text!r}")
    return size


def default_memory_budget() -> int:
    """A quarter of this machine's physical memory: the rest is for TensorFlow, the model and the batches."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4


def should_stream(count: int, image_shape: Sequence[int], memory_budget: int | None) -> bool:
    """Whether `count` decoded uint8 images of `image_shape` exceed `memory_budget` bytes (None: default)."""
    budget = default_memory_budget() if memory_budget is None else memory_budget
    return count * int(np.prod(image_shape)) > budget


# ----------------------------------------------------------------------------- stores


@dataclass(frozen=True, eq=False)
class ArrayStore:
    """Images already in memory, as one part of a `StreamedImages`."""

    array: np.ndarray

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape[1:])

    def read(self, rows: np.ndarray) -> np.ndarray:
        return self.array[rows]


@dataclass(frozen=True, eq=False)
class FileStore:
    """Image files of one folder, decoded the way `pipelines.image_files.read_image` decodes them.

    Attributes:
        root: the folder.
        paths: each file's path relative to `root` (row i is `paths[i]`).
        image_shape: (H, W, C) of every decoded image.
        color_mode, image_size, max_pixels: `read_image`'s settings.
        cache: a complete `DecodedCache` holding row i's pixels, or None to
            decode the files on every read.
    """

    root: Path
    paths: tuple[str, ...]
    image_shape: tuple[int, int, int]
    color_mode: str
    image_size: tuple[int, int] | None
    max_pixels: int
    cache: DecodedCache | None = None

    def read(self, rows: np.ndarray) -> np.ndarray:
        if self.cache is not None:
            return self.cache.read(rows)
        out = np.empty((len(rows), *self.image_shape), np.uint8)
        for i, row in enumerate(rows):
            out[i] = self._decode(int(row))
        return out

    def _decode(self, row: int) -> np.ndarray:
        path = self.root / self.paths[row]
        try:
            pixels, _ = read_image(path, self.color_mode, self.image_size, self.max_pixels)
        except UnusableFile as error:
            raise RuntimeError(
                f"{path} was readable when the folder was scanned and is not now: {error}"
            ) from None
        if pixels.shape != self.image_shape:
            raise RuntimeError(
                f"{path} decodes to {pixels.shape} now, {self.image_shape} when the folder was scanned."
            )
        return pixels


class DecodedCache:
    """Decoded images in one file of fixed-size uint8 records, row i at byte i * record size.

    `create` writes it while a folder is decoded for the first time; `find`
    opens a complete one again (its description file is written last, so a
    cache whose writing was interrupted is not found).
    """

    def __init__(self, path: Path, image_shape: Sequence[int], count: int):
        self.path, self.image_shape, self.count = Path(path), tuple(image_shape), count
        self.record = int(np.prod(self.image_shape))

    def read(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), *self.image_shape), np.uint8)
        flat = out.reshape(len(rows), self.record)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for i, row in enumerate(rows):
                data = os.pread(fd, self.record, int(row) * self.record)
                if len(data) != self.record:
                    raise RuntimeError(f"The decoded cache {self.path} is shorter than its description says.")
                flat[i] = np.frombuffer(data, np.uint8)
        finally:
            os.close(fd)
        return out

    @staticmethod
    def fingerprint(root: Path, paths: Sequence[str], settings: dict) -> str:
        """SHA-256 of the decoding settings and each file's path, size and modification time."""
        digest = hashlib.sha256(json.dumps({"format": CACHE_FORMAT, **settings}, sort_keys=True).encode())
        for relative in paths:
            status = (root / relative).stat()
            digest.update(f"{relative}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
        return digest.hexdigest()[:24]


# ----------------------------------------------------------------------------- the array


class StreamedImages:
    """uint8 images [N, H, W, C] kept in stores (files on disk, or arrays) and read on demand.

    Position p is row `rows[p]` of store `stores[store_of[p]]`. Slicing,
    index arrays and masks give views; an integer index, `read` and
    `np.asarray` give pixels.
    """

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, stores: Sequence[ArrayStore | FileStore], store_of: np.ndarray, rows: np.ndarray):
        shapes = {tuple(store.image_shape) for store in stores}
        if len(shapes) > 1:
            raise ValueError(f"Streamed images must have one shape. Received: {sorted(shapes)}")
        self.stores = tuple(stores)
        self.store_of = np.asarray(store_of, np.int32)
        self.rows = np.asarray(rows, np.int64)
        self.image_shape = shapes.pop() if shapes else (0, 0, 0)

    @classmethod
    def of_files(cls, store: FileStore, rows: np.ndarray) -> StreamedImages:
        return cls((store,), np.zeros(len(rows), np.int32), rows)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.rows), *self.image_shape)

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        kinds = sorted({type(store).__name__ for store in self.stores})
        return f"StreamedImages(shape={self.shape}, stores={kinds})"

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            return self.read(np.array([key]))[0]
        if isinstance(key, tuple):
            raise TypeError(
                "StreamedImages takes one index (slice, index array or mask); read() the pixels first."
            )
        return StreamedImages(self.stores, self.store_of[key], self.rows[key])

    def read(self, positions) -> np.ndarray:
        """The pixels at `positions` (in that order): uint8 [len(positions), H, W, C]."""
        positions = np.asarray(positions, np.int64).reshape(-1)
        out = np.empty((len(positions), *self.image_shape), np.uint8)
        stores = self.store_of[positions]
        for index, store in enumerate(self.stores):
            chosen = np.flatnonzero(stores == index)
            if len(chosen):
                out[chosen] = store.read(self.rows[positions[chosen]])
        return out

    def chunks(self, size: int = CHUNK) -> Iterator[np.ndarray]:
        """The pixels, `size` images at a time, in order."""
        for start in range(0, len(self), size):
            yield self.read(np.arange(start, min(start + size, len(self))))

    def __iter__(self) -> Iterator[np.ndarray]:
        for chunk in self.chunks():
            yield from chunk

    def __array__(self, dtype=None, copy=None):
        pixels = self.read(np.arange(len(self)))
        return pixels if dtype is None else pixels.astype(dtype)

    @classmethod
    def concatenate(cls, parts: Sequence[StreamedImages | np.ndarray]) -> StreamedImages:
        """The parts one after another; in-memory arrays become stores of their own."""
        stores, store_of, rows = [], [], []
        for part in parts:
            if isinstance(part, StreamedImages):
                offset = len(stores)
                stores += part.stores
                store_of.append(part.store_of + offset)
                rows.append(part.rows)
            else:
                store_of.append(np.full(len(part), len(stores), np.int32))
                rows.append(np.arange(len(part)))
                stores.append(ArrayStore(np.asarray(part)))
        return cls(stores, np.concatenate(store_of), np.concatenate(rows))


# ----------------------------------------------------------------------------- one pass over a folder


@dataclass
class DecodedFiles:
    """What one pass over a folder's files found.

    Attributes:
        usable: the listed files' positions that decoded (in listing order).
        unusable: (position, `UnusableFile`) of the others.
        mismatched: positions read although the extension names another format.
        shapes: the distinct decoded shapes.
        pixels: the decoded images of `usable` (kept in memory only).
        cache: the `DecodedCache` written, when there is one.
    """

    usable: list[int]
    unusable: list[tuple[int, UnusableFile]]
    mismatched: list[int]
    shapes: set
    pixels: list[np.ndarray] | None = None
    cache: DecodedCache | None = None

    def to_json(self) -> dict:
        """What a later pass needs to use the cache without decoding again (not the pixels)."""
        return {
            "usable": self.usable,
            "unusable": [[position, error.reason, error.detail] for position, error in self.unusable],
            "mismatched": self.mismatched,
            "shapes": sorted(list(shape) for shape in self.shapes),
            "count": None if self.cache is None else self.cache.count,
        }

    @classmethod
    def from_json(cls, document: dict, cache_path: Path) -> DecodedFiles:
        shapes = {tuple(shape) for shape in document["shapes"]}
        return cls(
            usable=list(document["usable"]),
            unusable=[
                (position, UnusableFile(reason, detail)) for position, reason, detail in document["unusable"]
            ],
            mismatched=list(document["mismatched"]),
            shapes=shapes,
            cache=DecodedCache(cache_path, next(iter(shapes)), document["count"]),
        )


def decode_files(
    root: Path,
    paths: Sequence[str],
    color_mode: str,
    image_size: tuple[int, int] | None,
    max_pixels: int,
    keep_pixels: bool,
    cache_path: Path | None = None,
    progress: Callable[[int], None] | None = None,
    threads: int | None = None,
) -> DecodedFiles:
    """Decodes every file once, `CHUNK` at a time on `threads` threads (default: one per core).

    Pillow releases the GIL while it decodes, so threads use every core.
    With `cache_path`, the pixels of listed file i are written at record i
    (records of unusable files stay zero); the cache needs one shape, so
    with files of several sizes (and no `image_size`) none is written.
    """
    found = DecodedFiles([], [], [], set(), [] if keep_pixels else None)
    record_shape, out = None, None

    def decode(relative: str):
        try:
            return read_image(root / relative, color_mode, image_size, max_pixels)
        except UnusableFile as error:
            return error

    try:
        with ThreadPoolExecutor(threads or os.cpu_count() or 1) as pool:
            for start in range(0, len(paths), CHUNK):
                for position, result in enumerate(pool.map(decode, paths[start : start + CHUNK]), start):
                    if isinstance(result, UnusableFile):
                        found.unusable.append((position, result))
                        continue
                    pixels, mismatch = result
                    found.usable.append(position)
                    found.shapes.add(pixels.shape)
                    if mismatch:
                        found.mismatched.append(position)
                    if keep_pixels:
                        found.pixels.append(pixels)
                    if cache_path is not None:
                        if out is None:
                            record_shape = pixels.shape
                            out = open(cache_path, "wb")  # noqa: SIM115 (closed below, also on errors)
                            out.truncate(len(paths) * pixels.size)
                        if pixels.shape == record_shape:
                            out.seek(position * pixels.size)
                            out.write(np.ascontiguousarray(pixels).tobytes())
                if progress is not None:
                    progress(min(start + CHUNK, len(paths)))
    finally:
        if out is not None:
            out.close()
    if out is not None and len(found.shapes) == 1:
        found.cache = DecodedCache(cache_path, record_shape, len(paths))
    elif cache_path is not None and Path(cache_path).exists():
        Path(cache_path).unlink()
    return found
