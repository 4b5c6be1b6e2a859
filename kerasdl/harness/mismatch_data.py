"""The main job's data from its command line: sources A and B, the mismatched split, the model's inputs.

Course 3, Week 2 ("Training and testing on different distributions"). Shared
by `experiments.mismatch` and `experiments.diagnose`: the same flags give the
same examples, splits and preprocessing in both, so a model the main job
trained is diagnosed on exactly its own data.

Two forms of data, as in the lesson:

- one source split the lesson's way (`--source`): a share of its examples
  (`--b-fraction`) becomes source B, the distribution that matters, seen
  through a synthesized phone camera (`--synthesis-strength`); the rest is
  source A;
- a training source and the source that matters (`--source` and
  `--source-b`): B is taken as it is, with its classes matched to A's by
  name.

Then train = A + `--b-train-share` of B, less train-dev; train-dev =
`--train-dev-fraction` of that training distribution; dev and test = the
rest of B, half each (`pipelines.splits.mismatched_split`). Every choice is a
hash of example ids salted with `--seed`. `--inject-label-noise` flips a
share of the dev and test labels (seeded) to measure label-error detection.

Before splitting, copies of one image are found by content
(`kerasdl.diagnostics.duplicates`: identical pixels, or perceptual hashes
at most `--near-duplicate-bits` of 256 bits apart), across A and B together
(or across the one source before it is split into A and B), and each group of
copies is kept in one split; a group with a copy in A trains and is never
evaluated (`mismatched_split`'s `groups`). `--dedupe` keeps one copy per
group instead: the copy from source B when there is one (B is the scarce
distribution that matters), else the one with the smallest id.

The model sees `--preprocess standardize` (per-channel mean and standard
deviation of the training split: what kerasdl's experiments train with),
`unit` (pixels / 255) or `raw` (0..255, for a model that rescales inside).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from kerasdl.diagnostics.duplicates import NEAR_DUPLICATE_BITS, DuplicateGroup, Duplicates, find_duplicates
from kerasdl.diagnostics.images import labelled_rows
from kerasdl.diagnostics.label_issues import inject_label_noise
from kerasdl.harness import cli
from pipelines.datasets import to_dataset
from pipelines.image_files import COLOR_MODES, parse_image_size
from pipelines.normalize import Standardizer
from pipelines.sources import ImageSource, data_home, load_source
from pipelines.splits import MismatchedSplit, mismatched_split, split_by_hash
from pipelines.streaming import StreamedImages, parse_memory_size, should_stream
from pipelines.subsets import hash_subset
from pipelines.synthesis import PhoneCamera, camera_config, phone_camera

PREPROCESSING = ("standardize", "unit", "raw")
FRACTION_FLAGS = (
    "b_fraction",
    "synthesis_strength",
    "b_train_share",
    "train_dev_fraction",
    "synthesize_train",
)


def add_data_flags(parser: argparse.ArgumentParser, train_eval_size: int = 10_000) -> None:
    """Adds the "data" group: the sources, the split, the preprocessing and label noise."""
    data = parser.add_argument_group("data")
    data.add_argument(
        "--source",
        default="fashion_mnist",
        help="'fashion_mnist' (offline), 'tfds:<name>' (needs --download once) or 'folder:<path>'; "
        "without --source-b it is split into A and a phone-camera B",
    )
    data.add_argument(
        "--source-b",
        default=None,
        help="the distribution that matters, in the same forms as --source: then --source is A, B is taken "
        "as it is (classes matched by name; both of one image size) and --b-fraction and "
        "--synthesis-strength do not apply",
    )
    data.add_argument(
        "--image-size",
        type=_image_size,
        default=None,
        metavar="HxW",
        help="resize every image of both sources to H x W pixels (bilinear, antialiased), e.g. 96x96; "
        "needed for a folder of mixed sizes (default: keep the size)",
    )
    data.add_argument(
        "--color-mode",
        choices=COLOR_MODES,
        default=None,
        help="convert every image to 3-channel RGB or 1-channel grayscale (ITU-R 601-2 luma); "
        "default: the source's own (RGB for a folder)",
    )
    data.add_argument(
        "--memory-budget",
        type=_memory_size,
        default=None,
        metavar="SIZE",
        help="a folder whose decoded pixels would take more than this (e.g. 4GB, 512MiB; 0: always) is "
        "streamed from disk, decoded batch by batch on every core, instead of held in memory "
        "(default: a quarter of this machine's memory)",
    )
    data.add_argument(
        "--decode-cache",
        default="auto",
        metavar="DIR",
        help="where a streamed folder's decoded pixels are kept, so each file is decoded once (one file "
        "of fixed-size records, as large as the decoded folder, found again while the files are "
        "unchanged); 'auto': <data home>/decoded ($KERASDL_DATA_DIR or ~/.cache/kerasdl); 'none': "
        "decode the files on every pass instead",
    )
    cli.add_data_dir_flag(data, help="folder of the Fashion-MNIST IDX files, or tfds' data_dir")
    data.add_argument("--download", action="store_true", help="allow tfds to download the dataset (network)")
    data.add_argument(
        "--limit",
        type=int,
        default=None,
        help="use only this many examples of each source (quick runs, tests)",
    )
    cli.add_fraction_flag(
        data, "--b-fraction", 0.2, "share of the examples that become source B, the distribution that matters"
    )
    cli.add_fraction_flag(
        data,
        "--synthesis-strength",
        0.6,
        "how strongly source B is degraded by the phone camera, 0 (no mismatch) to 1",
    )
    cli.add_fraction_flag(data, "--b-train-share", 0.5, "share of source B that goes to train")
    cli.add_fraction_flag(
        data, "--train-dev-fraction", 0.05, "share of the training distribution held out as train-dev"
    )
    cli.add_fraction_flag(
        data,
        "--synthesize-train",
        0.0,
        "share of source A degraded by the phone camera before training: the lesson's fix for mismatch",
    )
    cli.add_train_eval_size_flag(
        data,
        train_eval_size,
        help="training error is measured on this fixed hash-chosen subset of train (0: all)",
    )
    data.add_argument(
        "--preprocess",
        default="standardize",
        choices=PREPROCESSING,
        help="what the model's inputs are: 'standardize' (per-channel mean and std of the training split), "
        "'unit' (pixels / 255) or 'raw' (0..255, for a model that rescales inside)",
    )
    cli.add_fraction_flag(
        data,
        "--inject-label-noise",
        0.0,
        "share of dev and test labels flipped to another class (seeded) before training, to measure "
        "the precision and recall of label-error detection; 0 keeps the labels",
    )
    data.add_argument(
        "--near-duplicate-bits",
        type=int,
        default=NEAR_DUPLICATE_BITS,
        metavar="BITS",
        help="two images whose perceptual hashes (imagehash's 256-bit pHash) differ in at most this many "
        "bits are copies of one image and are kept in one split; -1 finds identical pixels only",
    )
    data.add_argument(
        "--dedupe",
        action="store_true",
        help="keep one example of each group of copies (source B's when the image is in both sources, "
        "else the smallest id) instead of keeping the copies together in one split",
    )


def _image_size(text: str) -> tuple[int, int]:
    try:
        return parse_image_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _memory_size(text: str) -> int:
    if text.strip() == "0":
        return 0
    try:
        return parse_memory_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _image_options(args: argparse.Namespace) -> dict:
    return {
        "image_size": getattr(args, "image_size", None),
        "color_mode": getattr(args, "color_mode", None),
        "memory_budget": getattr(args, "memory_budget", None),
        "cache_dir": _decode_cache(getattr(args, "decode_cache", "none")),
    }


def _decode_cache(flag: str) -> Path | None:
    if flag == "none":
        return None
    return data_home() / "decoded" if flag == "auto" else Path(flag)


def check_data_flags(args: argparse.Namespace) -> None:
    """`cli.fail`s with one line on a data flag out of range."""
    cli.check_fractions(args, *FRACTION_FLAGS, "inject_label_noise")
    cli.check_at_least(args, 1, "limit")
    cli.check_at_least(args, 0, "train_eval_size")
    cli.check_at_least(args, -1, "near_duplicate_bits")


@dataclass(frozen=True)
class Copies:
    """Copies of one image found by content before splitting, and what `--dedupe` removed.

    Attributes:
        groups: each group's ids, tagged with their source ("A:<id>",
            "B:<id>"), smallest first.
        identical: per group, whether all its copies have identical pixels.
        found: `Duplicates.counts()` over the sources as loaded, with
            "across_sources" (groups with copies in both A and B) in place
            of "across_splits".
        summary: one sentence with those counts.
        near_bits: the perceptual-hash threshold used (None: exact only).
        removed: the tagged ids `--dedupe` left out (empty without it).
    """

    groups: tuple[tuple[str, ...], ...] = ()
    identical: tuple[bool, ...] = ()
    found: dict = field(default_factory=dict)
    summary: str = ""
    near_bits: int | None = NEAR_DUPLICATE_BITS
    removed: tuple[str, ...] = ()

    def to_json(self, listed: int = 50) -> dict:
        """The counts, the removed count and the first `listed` groups, for data.json."""
        return {
            "found_before_split": self.found,
            "summary": self.summary,
            "near_duplicate_bits": self.near_bits,
            "removed_by_dedupe": len(self.removed),
            "groups": [list(group) for group in self.groups[:listed]],
        }


@dataclass(frozen=True)
class MismatchData:
    """The examples of a run and how a model sees them.

    Attributes:
        split: train, train-dev, dev and test (labels as used, noise included).
        train_eval: the fixed hash-chosen part of train its error is measured on.
        source_a: source A, as trained on.
        source_b: source B (synthesized or given).
        preprocessing: one of `PREPROCESSING`.
        standardizer: what maps pixels to inputs (None for "raw").
        flipped: split -> mask of the labels flipped on purpose (empty without noise).
        description: one line saying where the data come from.
        b_synthesized: whether B was made by the phone camera (no --source-b).
        a_synthesized: whether part of A was (--synthesize-train).
        files: source spec -> files of that folder left out by reason, and
            files read despite their extension (`file_report`); folders only.
        copies: the copies of one image found before splitting (`Copies`).
    """

    split: MismatchedSplit
    train_eval: ImageSource
    source_a: ImageSource
    source_b: ImageSource
    preprocessing: str
    standardizer: Standardizer | None
    flipped: dict[str, np.ndarray] = field(default_factory=dict)
    description: str = ""
    b_synthesized: bool = True
    a_synthesized: bool = False
    files: dict = field(default_factory=dict)
    copies: Copies = field(default_factory=Copies)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.split.train.class_names

    @property
    def num_classes(self) -> int:
        return self.split.train.num_classes

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.split.train.image_shape

    def inputs(self, images: np.ndarray) -> np.ndarray:
        """Images [N, H, W, C] (0..255) as the model's float32 inputs."""
        if self.standardizer is None:
            return np.asarray(images, np.float32)
        return self.standardizer(np.asarray(images))

    def dataset(
        self, part: ImageSource, batch_size: int, shuffle: bool = False, seed: int = 0
    ) -> tf.data.Dataset:
        """Batches of (inputs, labels) of `part`; with `shuffle`, a new seeded order every epoch."""
        return to_dataset(part, batch_size, shuffle=shuffle, seed=seed, standardizer=self.standardizer)

    def evaluation_parts(self) -> dict[str, ImageSource]:
        """The four splits the decomposition is measured on, in order ("train" is `train_eval`)."""
        return {"train": self.train_eval, **{k: v for k, v in self.split.as_dict().items() if k != "train"}}

    def evaluation_datasets(self, batch_size: int = 512) -> dict[str, tf.data.Dataset]:
        """`evaluation_parts` as datasets of (inputs, labels) batches."""
        return {name: self.dataset(part, batch_size) for name, part in self.evaluation_parts().items()}

    def label_ranges(self) -> dict[str, tuple[int, int]]:
        """(smallest, largest) label of each of `evaluation_parts`, for `DecompositionCallback`."""
        return {
            name: (int(part.labels.min()), int(part.labels.max()))
            for name, part in self.evaluation_parts().items()
            if len(part)
        }

    def to_json(self) -> dict:
        """Sizes, A/B composition and preprocessing (and the camera), for the run's data.json."""
        document = {
            "description": self.description,
            "sizes": self.split.sizes(),
            "composition": self.split.composition(),
            "preprocessing": self.preprocessing,
            "standardizer": None if self.standardizer is None else self.standardizer.to_config(),
            "flipped": {name: int(mask.sum()) for name, mask in self.flipped.items()},
            "files": self.files,
            "duplicates": self.copies.to_json(),
        }
        if self.b_synthesized or self.a_synthesized:
            document["camera"] = camera_config(PhoneCamera())
        return document

    def duplicates_in_splits(self) -> Duplicates:
        """The groups of `copies` where they landed: (split, index) of each copy still in the data.

        A group left with one copy (`--dedupe`) is no longer a group.
        """
        parts = self.split.as_dict()
        place = {str(i): (name, index) for name, part in parts.items() for index, i in enumerate(part.ids)}
        order = {name: position for position, name in enumerate(parts)}
        groups = []
        for ids, identical in zip(self.copies.groups, self.copies.identical, strict=True):
            members = sorted((place[i] for i in ids if i in place), key=lambda m: (order[m[0]], m[1]))
            if len(members) > 1:
                labels = tuple(int(parts[name].labels[index]) for name, index in members)
                groups.append(DuplicateGroup(tuple(members), labels, identical))
        groups.sort(key=lambda g: (not g.across_splits, not g.label_conflict, -len(g.members), g.members))
        examples = sum(self.split.sizes().values())
        return Duplicates(tuple(groups), examples, near_bits=self.copies.near_bits)


def align_classes(source_a: ImageSource, source_b: ImageSource) -> ImageSource:
    """Source B with its labels renumbered to A's class order (classes are matched by name).

    Raises:
        ValueError: the sources do not have the same class names (the
            message lists the differences) or not the same image shape.
    """
    if source_a.image_shape != source_b.image_shape:
        raise ValueError(
            f"Sources A and B must have images of one shape: A ({source_a.name}) has {source_a.image_shape}, "
            f"B ({source_b.name}) has {source_b.image_shape}. Give both one size and colour mode: "
            "--image-size HxW and --color-mode rgb or grayscale."
        )
    if source_a.class_names == source_b.class_names:
        return source_b
    only_a = [name for name in source_a.class_names if name not in source_b.class_names]
    only_b = [name for name in source_b.class_names if name not in source_a.class_names]
    if only_a or only_b:
        raise ValueError(
            f"Sources A and B must have the same classes (matched by name). Only in A ({source_a.name}): "
            f"{only_a}; only in B ({source_b.name}): {only_b}."
        )
    order = np.array([source_a.class_names.index(name) for name in source_b.class_names], dtype=np.int64)
    return source_b.replace(labels=order[source_b.labels], class_names=source_a.class_names)


def file_report(source: ImageSource) -> dict | None:
    """A folder source's files left out (by reason), read despite their extension, and whether it streams.

    None for a source that is not a folder.
    """
    counts = getattr(source, "skipped_counts", None)
    if counts is None:
        return None
    return {
        "left_out": counts,
        "extension_mismatches": len(getattr(source, "extension_mismatches", ())),
        "streamed": isinstance(source.images, StreamedImages),
    }


def _near_bits(args: argparse.Namespace) -> int | None:
    bits = getattr(args, "near_duplicate_bits", NEAR_DUPLICATE_BITS)
    return None if bits is None or bits < 0 else bits


def _copies(found: Duplicates, tagged_ids: dict[str, np.ndarray]) -> Copies:
    """`found`'s groups as tagged ids (`tagged_ids`: part name -> tagged id of each of its examples)."""
    groups = [tuple(sorted(str(tagged_ids[part][index]) for part, index in g.members)) for g in found.groups]
    counts = {name: value for name, value in found.counts().items() if name != "across_splits"}
    counts["across_sources"] = sum(
        any(i.startswith("A:") for i in group) and any(i.startswith("B:") for i in group) for group in groups
    )
    if groups:
        summary = (
            f"{counts['groups']} groups of copies among {found.examples:,} examples ({found.searched()}): "
            f"{counts['exact_groups']} exact, {counts['near_groups']} near; {counts['extra_copies']} extra "
            f"copies; {counts['across_sources']} with copies in both A and B; {counts['label_conflicts']} "
            "with conflicting labels."
        )
    else:
        summary = f"no duplicates among {found.examples:,} examples ({found.searched()})."
    return Copies(
        groups=tuple(groups),
        identical=tuple(g.identical for g in found.groups),
        found=counts,
        summary=summary,
        near_bits=found.near_bits,
    )


def _tagged(source: ImageSource, origin: str) -> np.ndarray:
    return np.array([f"{origin}:{i}" for i in source.ids], dtype=object)


def _dedupe(source_a: ImageSource, source_b: ImageSource, copies: Copies):
    """A and B less all but one copy of each group: B's copy if the group has one, else the smallest id."""
    removed = set()
    for group in copies.groups:
        keep = min(group, key=lambda i: (not i.startswith("B:"), i))
        removed.update(i for i in group if i != keep)
    kept = [
        source.take(~np.isin(_tagged(source, origin).astype(str), sorted(removed)))
        for source, origin in ((source_a, "A"), (source_b, "B"))
    ]
    return (*kept, dataclasses.replace(copies, removed=tuple(sorted(removed))))


def make_sources(args: argparse.Namespace) -> tuple[ImageSource, ImageSource, dict, Copies]:
    """Source A and source B, from disjoint examples, with `--synthesize-train` applied to A.

    Also returns {source spec: `file_report`} for the sources read from folders,
    and the copies of one image found by content (`Copies`), with `--dedupe`
    already applied to A and B.
    """
    pool = load_source(args.source, data_dir=args.data_dir, download=args.download, **_image_options(args))
    files = {args.source: file_report(pool)}
    if args.limit:
        pool = hash_subset(pool, args.limit, salt=f"limit/{args.seed}")
    near_bits = _near_bits(args)
    if args.source_b is None:
        # Copies are looked for in the one source as it is, before it is split into A and B, and a
        # group goes wholly to A or to B; B's copies are then degraded with the rest of B.
        found = find_duplicates({"pool": pool.images}, {"pool": pool.labels}, near_bits)
        pool_groups = [[str(pool.ids[index]) for _, index in g.members] for g in found.groups]
        roles = split_by_hash(
            pool,
            {"A": 1 - args.b_fraction, "B": args.b_fraction},
            salt=f"roles/{args.seed}",
            groups=pool_groups,
        )
        role_of = {str(i): role for role in ("A", "B") for i in roles[role].ids}
        copies = _copies(
            found, {"pool": np.array([f"{role_of[str(i)]}:{i}" for i in pool.ids], dtype=object)}
        )
        source_a, source_b = roles["A"], roles["B"]
    else:
        source_b = load_source(
            args.source_b, data_dir=args.data_dir, download=args.download, **_image_options(args)
        )
        files[args.source_b] = file_report(source_b)
        if args.limit:
            source_b = hash_subset(source_b, args.limit, salt=f"limit/{args.seed}")
        source_a, source_b = pool, align_classes(pool, source_b)
        found = find_duplicates(
            {"A": source_a.images, "B": source_b.images},
            {"A": source_a.labels, "B": source_b.labels},
            near_bits,
        )
        copies = _copies(found, {"A": _tagged(source_a, "A"), "B": _tagged(source_b, "B")})
    if getattr(args, "dedupe", False):
        source_a, source_b, copies = _dedupe(source_a, source_b, copies)
    if args.source_b is None:
        source_b = phone_camera(source_b, args.synthesis_strength, seed=args.seed)
    if args.synthesize_train > 0:
        parts = split_by_hash(
            source_a,
            {"clean": 1 - args.synthesize_train, "synth": args.synthesize_train},
            salt=f"synthesize/{args.seed}",
        )
        synthesized = phone_camera(parts["synth"], args.synthesis_strength, seed=args.seed + 1)
        source_a = ImageSource.concatenate([parts["clean"], synthesized], "A+synthesized")
    files = {spec: report for spec, report in files.items() if report is not None}
    return source_a, source_b, files, copies


def _flip_labels(split: MismatchedSplit, share: float, seed: int) -> tuple[MismatchedSplit, dict]:
    if not share:
        return split, {}
    parts, flipped = split.as_dict(), {}
    for offset, name in enumerate(("dev", "test")):
        part = parts[name]
        labels, flipped[name] = inject_label_noise(part.labels, share, part.num_classes, seed=seed + offset)
        parts[name] = part.replace(labels=labels)
    return MismatchedSplit(**parts), flipped


def _preprocessor(preprocessing: str, train: ImageSource) -> Standardizer | None:
    if preprocessing == "standardize":
        return Standardizer.fit(train.images)
    channels = train.image_shape[-1]
    if preprocessing == "unit":
        return Standardizer(mean=np.zeros(channels, np.float32), std=np.full(channels, 255.0, np.float32))
    if preprocessing == "raw":
        return None
    raise ValueError(
        f"preprocessing must be one of {PREPROCESSING}. Received: preprocessing={preprocessing!r}"
    )


def _hold_evaluated_splits(
    split: MismatchedSplit, train_eval: ImageSource, memory_budget: int | None
) -> tuple[MismatchedSplit, ImageSource]:
    """Streamed train-dev, dev, test and the train subset read into memory, when together they fit.

    They are evaluated every epoch and dev is read again and again by the
    diagnostics; only train, the bulk of the data, then stays on disk.
    """
    parts = {"train_dev": split.train_dev, "dev": split.dev, "test": split.test, "train_eval": train_eval}
    streamed = {name: part for name, part in parts.items() if isinstance(part.images, StreamedImages)}
    count = sum(len(part) for part in streamed.values())
    if not streamed or should_stream(count, split.train.image_shape, memory_budget):
        return split, train_eval
    held = {name: part.replace(images=np.asarray(part.images)) for name, part in streamed.items()}
    parts.update(held)
    train_eval = parts.pop("train_eval")
    return dataclasses.replace(split, **parts), train_eval


def mismatch_data(args: argparse.Namespace) -> MismatchData:
    """The data the flags of `add_data_flags` (and `--seed`) name.

    Raises:
        pipelines.sources.SourceMissingError, SourceCorruptError, ValueError:
            the data cannot be had or do not fit together; the message says
            why (wrap the call in `cli.load_or_fail` for a one-line error).
    """
    source_a, source_b, files, copies = make_sources(args)
    split = mismatched_split(
        source_a,
        source_b,
        args.b_train_share,
        args.train_dev_fraction,
        salt=f"mismatch/{args.seed}",
        groups=() if copies.removed else copies.groups,
    )
    empty = [name for name, size in split.sizes().items() if size == 0]
    if empty:
        raise ValueError(f"The split leaves {empty} empty ({split.sizes()}): use more examples (--limit).")
    split, flipped = _flip_labels(split, args.inject_label_noise, args.seed)
    train_eval = split.train
    if args.train_eval_size:
        train_eval = hash_subset(split.train, args.train_eval_size, salt="train-eval")
    split, train_eval = _hold_evaluated_splits(split, train_eval, getattr(args, "memory_budget", None))
    if args.source_b is None:
        description = (
            f"{args.source}: A as it is, B through a phone camera at strength {args.synthesis_strength}"
        )
    else:
        description = f"A = {args.source}, B = {args.source_b}"
    if args.synthesize_train:
        description += f"; {args.synthesize_train:g} of A synthesized like B"
    return MismatchData(
        split=split,
        train_eval=train_eval,
        source_a=source_a,
        source_b=source_b,
        preprocessing=args.preprocess,
        standardizer=_preprocessor(args.preprocess, split.train),
        flipped=flipped,
        description=description,
        b_synthesized=args.source_b is None,
        a_synthesized=args.synthesize_train > 0,
        files=files,
        copies=copies,
    )


def log_examples(run, data: MismatchData) -> None:
    """Source A above source B, one labelled picture (TensorBoard run "examples", tag "examples").

    One picture, not a card per image: the two distributions side by side is
    what the lesson asks the user to look at. Each row holds as many images
    as fit in TensorBoard's card width at twice their size.
    """
    b = "source B (phone camera)" if data.b_synthesized else "source B"
    grid = labelled_rows({"source A": data.source_a.images[:16], b: data.source_b.images[:16]})
    description = (
        f"Source A: {len(data.source_a.labels)} images; {b}: {len(data.source_b.labels)} images, "
        "the distribution that matters (dev and test come from it)."
    )
    with run.writer("examples").as_default():
        tf.summary.image("examples", grid[None], step=0, description=description)
