"""Text lines to read: images of 1-3 words rendered offline, and their transcripts as CTC labels.

Course 5, Week 3, "Speech recognition" (CTC): a network reads an input
much longer than its transcript, here an image of a line of text read
left to right, and writes a distribution over the characters and a blank
at every column. The data is made here, nothing is downloaded:

- Words: Debian's `wamerican` word list (/usr/share/dict/american-english;
  104,334 entries in wamerican 2020.12.07), keeping the words made only of
  the lowercase ASCII letters a-z (63,875 words: proper nouns, possessives
  and accented words are dropped). `$KERASDL_WORDS_FILE` or `words_file`
  points at another list, one word a line.
- Fonts: the TrueType fonts of Debian's `fonts-dejavu-core`,
  `fonts-dejavu-extra` and `fonts-liberation` under /usr/share/fonts/truetype
  (36 fonts: DejaVu Sans, Sans Condensed, Sans Mono, Serif, Serif
  Condensed and Liberation Sans, Sans Narrow, Serif, Mono, each regular,
  bold, italic and bold italic; DejaVu Math TeX Gyre and DejaVu Sans
  ExtraLight are left out). `$KERASDL_FONTS_DIR` or `fonts_dir` points at
  another folder of .ttf files.
- The character set (`ALPHABET`): the space and a-z. Ids: 0 is the blank
  (`BLANK`, kerasdl's `CTCLoss` default `blank=0`), character k of
  `ALPHABET` is id k + 1, and label rows are padded on the right with
  `PAD` = -1 (`CTCLoss`'s default `pad`). The network's output has
  `NUM_CLASSES` = 28 logits per frame.

A line is 1 to `max_words` words drawn uniformly (the number of words, then
each word), redrawn when longer than `max_chars` characters. It is drawn in
black-ish ink on a grey-to-white background, fixed `height` (32 px) and
padded to a fixed `width` (256 px), with a random font, font size
(`font_sizes`, shrunk until the line fits), horizontal and vertical
position jitter, ink and background grey levels, a slight blur and
Gaussian pixel noise (`RenderSettings`). Everything is drawn from one
seeded stream (`numpy.random.default_rng([seed, ...])`): the same seed
gives the same lines, pixel for pixel, with the same FreeType.

Splits: each line goes to train, dev or test by a hash of its *text*
(`SPLIT_FRACTIONS`), so the text of a held-out line is never a training
line in any font (its words do occur in other training lines: the test is
of reading, not of spelling unseen words). Lines are drawn one after
another from the stream and every draw draws all its parameters, so asking
for more of one split does not change another. The font is drawn as a
uniform number mapped onto the font list, so the same seed with another
list of fonts (`--test-fonts`, fonts held out of training) gives the same
texts in the other fonts: a mismatched test set of the same lines.

Example:

    >>> encode_texts(["ab c"], length=6).tolist()
    [[2, 3, 1, 4, -1, -1]]
    >>> decode_ids([2, 3, 1, 4])
    'ab c'
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from pipelines.datasets import AUTOTUNE, host_tensors, index_batches
from pipelines.hashing import identity_hashes, unit_interval
from pipelines.sources import SourceCorruptError, SourceMissingError

ALPHABET = " abcdefghijklmnopqrstuvwxyz"
BLANK = 0  # kerasdl.nn.ctc.CTCLoss(blank=0): the blank is id 0, character k of ALPHABET is id k + 1
PAD = -1  # CTCLoss(pad=-1): what label rows are padded with
NUM_CLASSES = len(ALPHABET) + 1  # logits per frame: the blank and the characters
WORDS_FILE = "/usr/share/dict/american-english"  # Debian's wamerican
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/liberation")
EXCLUDED_FONTS = ("DejaVuMathTeXGyre", "DejaVuSans-ExtraLight")  # a math font; strokes too thin to read
SPLIT_FRACTIONS = {"train": 0.9, "dev": 0.05, "test": 0.05}
_IDS = {character: k + 1 for k, character in enumerate(ALPHABET)}


# --------------------------------------------------------------------------- sources


def load_words(words_file: str | os.PathLike | None = None) -> tuple[str, ...]:
    """The words of the list made only of a-z, in the file's order, without repeats.

    Read from `words_file`, else $KERASDL_WORDS_FILE, else Debian's wamerican.

    Raises:
        SourceMissingError: the file is not there.
        SourceCorruptError: it is not UTF-8 text, or keeps no word.
    """
    path = Path(words_file or os.environ.get("KERASDL_WORDS_FILE") or WORDS_FILE)
    if not path.is_file():
        raise SourceMissingError(
            f"No word list at {path}. Install Debian's wamerican package (`apt-get install wamerican`, "
            "or `make data`), or pass --words-file (or set KERASDL_WORDS_FILE) with one word a line."
        )
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise SourceCorruptError(f"Word list {path} is not UTF-8 text: {error}") from None
    letters = set(ALPHABET) - {" "}
    words = tuple(dict.fromkeys(w for w in (line.strip() for line in lines) if w and set(w) <= letters))
    if not words:
        raise SourceCorruptError(f"Word list {path} has no word made only of the letters a-z.")
    return words


def find_fonts(fonts_dir: str | os.PathLike | None = None) -> tuple[Path, ...]:
    """The .ttf files to draw with, sorted by name (`EXCLUDED_FONTS` left out).

    Searched (recursively) in `fonts_dir`, else $KERASDL_FONTS_DIR, else
    Debian's DejaVu and Liberation folders (`FONT_DIRS`).

    Raises:
        SourceMissingError: no font is there.
    """
    chosen = fonts_dir or os.environ.get("KERASDL_FONTS_DIR")
    folders = [Path(chosen)] if chosen else [Path(d) for d in FONT_DIRS]
    fonts = sorted(
        (p for folder in folders if folder.is_dir() for p in folder.rglob("*.ttf")),
        key=lambda p: p.name,
    )
    fonts = [p for p in fonts if p.stem not in EXCLUDED_FONTS]
    if not fonts:
        where = ", ".join(str(f) for f in folders)
        raise SourceMissingError(
            f"No .ttf fonts in {where}. Install Debian's fonts (`apt-get install fonts-dejavu-core "
            "fonts-dejavu-extra fonts-liberation`, or `make data`), or pass --fonts-dir (or set "
            "KERASDL_FONTS_DIR) with a folder of TrueType fonts."
        )
    return tuple(fonts)


def split_fonts(fonts: Sequence[Path], held_out: Iterable[str]) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """(fonts to train on, held-out fonts): a font is held out when its file name starts with a prefix.

    `held_out` holds prefixes such as "LiberationSerif" (all four styles) or
    "DejaVuSansMono-Bold". A prefix that matches no font, or that holds every
    font out, is a ValueError.
    """
    prefixes = [p for p in held_out if p]
    names = [font.stem for font in fonts]
    for prefix in prefixes:
        if not any(name.startswith(prefix) for name in names):
            raise ValueError(f"No font's name starts with {prefix!r}. The fonts: {', '.join(names)}")
    out = tuple(f for f in fonts if any(f.stem.startswith(p) for p in prefixes))
    kept = tuple(f for f in fonts if f not in out)
    if not kept:
        raise ValueError(f"Holding out {prefixes} leaves no font to train on.")
    return kept, out


# --------------------------------------------------------------------------- labels


def encode_texts(texts: Sequence[str], length: int | None = None) -> np.ndarray:
    """int32 [len(texts), length]: each text's character ids (1..27), padded on the right with PAD.

    `length` defaults to the longest text; a character outside `ALPHABET`
    or a text longer than `length` is a ValueError.
    """
    rows = []
    for text in texts:
        unknown = set(text) - _IDS.keys()
        if unknown:
            raise ValueError(f"Characters outside {ALPHABET!r}: {sorted(unknown)} in {text!r}")
        rows.append([_IDS[c] for c in text])
    longest = max((len(row) for row in rows), default=0)
    length = longest if length is None else length
    if longest > length:
        raise ValueError(f"A text has {longest} characters, more than length={length}.")
    return keras.utils.pad_sequences(rows, maxlen=length, dtype="int32", padding="post", value=PAD)


def decode_ids(ids: Iterable[int]) -> str:
    """The text of character ids; the blank and PAD are skipped (a decoder's output has neither)."""
    return "".join(ALPHABET[i - 1] for i in map(int, ids) if 1 <= i <= len(ALPHABET))


# --------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class RenderSettings:
    """How lines are drawn.

    Attributes:
        height, width: the image's size in pixels; every image is padded to `width`.
        max_words: lines have 1..max_words words.
        max_chars: the longest line, spaces included (longer draws are drawn again).
        font_sizes: (smallest, largest) font size in pixels, drawn uniformly;
            a line too wide for `width` is drawn smaller until it fits.
        jitter: the most pixels the line moves up or down from the centre.
        noise: the largest standard deviation of the Gaussian pixel noise (0..255 scale).
        blur: the largest radius of the Gaussian blur.
    """

    height: int = 32
    width: int = 256
    max_words: int = 3
    max_chars: int = 24
    font_sizes: tuple[int, int] = (16, 22)
    jitter: int = 3
    noise: float = 12.0
    blur: float = 0.8

    def __post_init__(self):
        for name in ("height", "width", "max_words", "max_chars"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
        low, high = self.font_sizes
        if not 6 <= low <= high:
            raise ValueError(
                f"font_sizes must be (low, high) with 6 <= low <= high. Received: {self.font_sizes}"
            )
        if self.jitter < 0 or self.noise < 0 or self.blur < 0:
            raise ValueError(
                f"jitter, noise and blur must be >= 0. Received: {self.jitter}, {self.noise}, {self.blur}"
            )


@functools.lru_cache(maxsize=512)
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


@dataclass(frozen=True)
class _Draw:
    """Every random choice of one line, drawn from the stream whether or not the line is kept."""

    text: str
    font_u: float
    size: int
    x_u: float
    y_shift: int
    background: int
    ink: int
    noise: float
    blur: float
    pixel_seed: int


def _draw(rng: np.random.Generator, words: Sequence[str], settings: RenderSettings) -> _Draw:
    while True:
        count = 1 + int(rng.random() * settings.max_words)
        text = " ".join(words[int(rng.random() * len(words))] for _ in range(count))
        if len(text) <= settings.max_chars:
            break
    low, high = settings.font_sizes
    return _Draw(
        text=text,
        font_u=float(rng.random()),
        size=low + int(rng.random() * (high - low + 1)),
        x_u=float(rng.random()),
        y_shift=int(round((2 * rng.random() - 1) * settings.jitter)),
        background=170 + int(rng.random() * 86),
        ink=int(rng.random() * 90),
        noise=float(rng.random() * settings.noise),
        blur=float(rng.random() * settings.blur) if rng.random() < 0.5 else 0.0,
        pixel_seed=int(rng.integers(2**63)),
    )


def render_line(
    text: str,
    font: str | os.PathLike,
    size: int,
    settings: RenderSettings = RenderSettings(),
    *,
    x_u: float = 0.0,
    y_shift: int = 0,
    background: int = 255,
    ink: int = 0,
    noise: float = 0.0,
    blur: float = 0.0,
    pixel_seed: int = 0,
) -> np.ndarray:
    """One line as uint8 [height, width]: `text` in `font`, shrunk from `size` until it fits.

    `x_u` in [0, 1) places the line between the left margin and the rightmost
    start that still fits; `y_shift` moves it down (up when negative) from
    the centre of the font's line box.
    """
    margin = 2
    while True:
        face = _font(str(font), size)
        left, _, right, _ = face.getbbox(text)
        if right - left <= settings.width - 2 * margin or size <= 6:
            break
        size -= 1
    if right - left > settings.width - 2 * margin:
        raise ValueError(f"{text!r} does not fit in width={settings.width} even at 6 px.")
    ascent, descent = face.getmetrics()
    room = settings.width - 2 * margin - (right - left)
    x = margin - left + int(x_u * (room + 1))
    y = (settings.height - (ascent + descent)) // 2 + y_shift
    image = Image.new("L", (settings.width, settings.height), background)
    ImageDraw.Draw(image).text((x, y), text, fill=ink, font=face)
    if blur > 0:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    pixels = np.asarray(image, np.float32)
    if noise > 0:
        pixels = pixels + np.random.default_rng(pixel_seed).normal(0.0, noise, pixels.shape)
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class TextLines:
    """Rendered lines: uint8 images [N, height, width], their texts and the font of each.

    Attributes:
        images: uint8 [N, height, width], dark ink on a light background.
        texts: the transcript of each image.
        fonts: the font file name (stem) each line is drawn in.
    """

    images: np.ndarray
    texts: tuple[str, ...]
    fonts: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def labels(self, length: int) -> np.ndarray:
        """int32 [N, length]: the CTC labels, character ids padded with PAD."""
        return encode_texts(self.texts, length)


def text_line_splits(
    sizes: Mapping[str, int],
    words: Sequence[str],
    fonts: Sequence[str | os.PathLike],
    seed: int = 0,
    settings: RenderSettings = RenderSettings(),
    fractions: Mapping[str, float] = SPLIT_FRACTIONS,
    salt: str = "text_lines",
) -> dict[str, TextLines]:
    """`sizes[name]` rendered lines for each named split, each text in one split only.

    Args:
        sizes: split name -> lines wanted (each name a key of `fractions`).
        words: the words lines are made of (`load_words`).
        fonts: the fonts to draw with (`find_fonts`), one drawn per line.
        seed: seeds every draw.
        settings: sizes, jitter and noise (`RenderSettings`).
        fractions: the share of all texts in each split (by hash of the text).
        salt: the split hash's salt.

    Returns:
        split name -> `TextLines`, in the order of `sizes`.
    """
    if not words:
        raise ValueError("Give at least one word. Received: words=()")
    if not fonts:
        raise ValueError("Give at least one font. Received: fonts=()")
    for name, size in sizes.items():
        if name not in fractions or fractions[name] <= 0:
            raise ValueError(f"Unknown split: expected one of {sorted(fractions)}. Received: {name!r}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"Split sizes must be integers >= 0. Received: {name}={size!r}")
    if min(len(w) for w in words) > settings.max_chars:
        raise ValueError(f"No word is short enough for max_chars={settings.max_chars}.")
    names = list(fractions)
    edges = np.cumsum([fractions[name] for name in names])[:-1]
    fonts = [str(f) for f in fonts]
    rng = np.random.default_rng([seed, 0x7E47])
    found: dict[str, list[tuple]] = {name: [] for name in sizes}
    draws, limit = 0, 1000 * (sum(sizes.values()) + 1)
    while any(len(found[name]) < sizes[name] for name in sizes):
        draws += 1
        if draws > limit:
            raise ValueError(f"{draws} draws did not fill the splits {dict(sizes)}: too few distinct texts?")
        draw = _draw(rng, words, settings)
        u = unit_interval(identity_hashes([draw.text], salt))[0]
        name = names[int(np.searchsorted(edges, u, side="right"))]
        if name in found and len(found[name]) < sizes[name]:
            font = fonts[min(int(draw.font_u * len(fonts)), len(fonts) - 1)]
            image = render_line(
                draw.text,
                font,
                draw.size,
                settings,
                x_u=draw.x_u,
                y_shift=draw.y_shift,
                background=draw.background,
                ink=draw.ink,
                noise=draw.noise,
                blur=draw.blur,
                pixel_seed=draw.pixel_seed,
            )
            found[name].append((image, draw.text, Path(font).stem))
    empty = np.zeros((0, settings.height, settings.width), np.uint8)
    return {
        name: TextLines(
            np.stack([r[0] for r in rows]) if rows else empty,
            tuple(r[1] for r in rows),
            tuple(r[2] for r in rows),
        )
        for name, rows in found.items()
    }


# --------------------------------------------------------------------------- tf.data


def line_dataset(
    lines: TextLines, batch_size: int, label_length: int, *, shuffle: bool = False, seed: int = 0
) -> tf.data.Dataset:
    """Batches of (float32 images [B, height, width, 1] in [0, 1], ink bright; int32 labels [B, length]).

    The pixels are inverted (1 - x / 255), so the ink is high and the
    background near 0. With `shuffle`, every epoch draws a new seeded order
    (`pipelines.datasets.index_batches`) and drops its last, partial batch,
    so every training batch has one shape.
    """
    images, labels = host_tensors(lines.images, lines.labels(label_length))
    batches = index_batches(len(lines), batch_size, shuffle=shuffle, seed=seed, drop_remainder=shuffle)

    def prepare(indices, _):
        batch = 1.0 - tf.cast(tf.gather(images, indices), tf.float32)[..., None] / 255.0
        return batch, tf.gather(labels, indices)

    return batches.map(prepare, num_parallel_calls=AUTOTUNE).prefetch(AUTOTUNE)
