"""Dates to translate: human-readable dates in many formats and their ISO form, generated offline.

Course 5, Week 3, the programming exercise "Neural machine translation":
translate "3 May 1979", "Thursday, May 3, 1979" or "05/03/79" into
"1979-05-03". The data is made the way the course makes it: Faker draws a
date, Babel writes it in one of the course's formats (`COURSE_FORMATS`:
Babel's "short", "medium", "long" and "full" styles and ten patterns, drawn
with the course's weights: "full" 10 times in 24, "d MMMM y" twice), the
text is lowercased and its commas dropped, and the target is the ISO
8601 date. Nothing is downloaded.

Differences from the course's generator, on purpose:

- The course's patterns write the year as "YYY" and "YY", which in Babel
  (Unicode LDML) is the year of the *week-based* calendar: 29 December 2008
  is written "29 dec 2009": a wrong label on days around the new year
  (in en_US, the last days of December of many years). Here they are "y"
  and "yy", the calendar year.
- Dates are drawn from a fixed range (`FIRST`..`LAST`, 1970 to 2029) rather
  than up to today, so the same seed gives the same data on any day. Two-digit
  years are unambiguous within a range of less than a century.
- Several locales: each example's locale is drawn from `locales` (Babel
  writes month and weekday names in that language).
- The reverse task (`direction="iso_to_human"`): from "1979-05-03" to the
  date spelled out in one Babel style ("long": "may 3 1979"; "full":
  "thursday may 3 1979", which needs the weekday), outputs of varying length.

Splits: each date goes to a split by a hash of its ISO form (`SPLIT_FRACTIONS`),
so a held-out date never appears in training in any format, and a split's
examples do not depend on the sizes asked of the others. Examples are drawn
one after another from one seeded stream; every draw also draws its format
and locale, so asking for more of one split does not change the others.

The vocabularies (`CharacterVocabulary`) map characters to ids, with
<pad> = 0, <unk> = 1, <start> = 2 (y<0>, the decoder's first input) and
<eos> = 3 (the end of every target); build them on the training split.

Example:

    >>> splits = date_splits({"train": 3, "dev": 2}, seed=0)
    >>> len(splits["train"]), len(splits["dev"])
    (3, 2)
    >>> all(t == d.isoformat() for t, d in zip(splits["dev"].targets, splits["dev"].dates))
    True
    >>> humanize(datetime.date(2008, 12, 29), "d MMM y", "en_US")
    '29 dec 2008'
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from faker import Faker

from pipelines.datasets import AUTOTUNE, host_tensors, index_batches
from pipelines.hashing import identity_hashes, unit_interval

# The course's formats (nmt_utils.py), "full" ten times as there; "YYY"/"YY" (week-based year) -> "y"/"yy".
COURSE_FORMATS = (
    "short", "medium", "long", *("full",) * 10,
    "d MMM y", "d MMMM y", "dd MMM y", "d MMM, y", "d MMMM, y", "dd, MMM y", "d MM yy", "d MMMM y",
    "MMMM d y", "MMMM d, y", "dd.MM.yy",
)  # fmt: skip
DIRECTIONS = ("human_to_iso", "iso_to_human")
REVERSE_STYLES = ("short", "medium", "long", "full")
FIRST, LAST = datetime.date(1970, 1, 1), datetime.date(2029, 12, 31)
SPLIT_FRACTIONS = {"train": 0.9, "dev": 0.05, "test": 0.05}
SPECIAL_TOKENS = ("<pad>", "<unk>", "<start>", "<eos>")
PAD, UNK, START, EOS = range(len(SPECIAL_TOKENS))


@functools.cache
def _babel_locale(locale: str) -> Locale:
    return Locale.parse(locale)


def humanize(date: datetime.date, pattern: str, locale: str) -> str:
    """The date as the course writes it: Babel's `format_date`, lowercased, without commas."""
    return format_date(date, format=pattern, locale=_babel_locale(locale)).lower().replace(",", "")


def check_locales(locales: Iterable[str]) -> tuple[str, ...]:
    """The locales as a tuple, or a ValueError naming one Babel does not know."""
    locales = tuple(locales)
    if not locales:
        raise ValueError("Give at least one locale, e.g. 'en_US'. Received: locales=()")
    for locale in locales:
        try:
            _babel_locale(locale)
        except (UnknownLocaleError, ValueError, TypeError):
            raise ValueError(
                f"Unknown locale {locale!r}: use a Babel locale such as en_US, fr_FR, de_DE, es_ES."
            ) from None
    return locales


@dataclass(frozen=True)
class DatePairs:
    """Translation pairs: for each example its date, the input text and the target text.

    Attributes:
        dates: the dates Faker drew.
        sources: the inputs (human-readable dates, or ISO dates for the reverse task).
        targets: the outputs to learn (ISO dates, or spelled-out dates).
        locales: each example's locale.
        patterns: the Babel style or pattern of each example's human-readable side.
    """

    dates: tuple[datetime.date, ...]
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    locales: tuple[str, ...]
    patterns: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.dates)

    def where(self, keep: Sequence[bool]) -> DatePairs:
        """The examples where `keep` is True, in order."""
        fields = (self.dates, self.sources, self.targets, self.locales, self.patterns)
        return DatePairs(*(tuple(v for v, k in zip(f, keep, strict=True) if k) for f in fields))


def date_splits(
    sizes: Mapping[str, int],
    seed: int = 0,
    locales: Sequence[str] = ("en_US",),
    formats: Sequence[str] = COURSE_FORMATS,
    direction: str = "human_to_iso",
    reverse_style: str = "long",
    first: datetime.date = FIRST,
    last: datetime.date = LAST,
    fractions: Mapping[str, float] = SPLIT_FRACTIONS,
    salt: str = "dates",
) -> dict[str, DatePairs]:
    """`sizes[name]` examples for each named split, each date in one split only.

    Args:
        sizes: split name -> examples wanted (each name a key of `fractions`).
        seed: seeds Faker's dates and the format and locale draws.
        locales: Babel locales, drawn uniformly per example.
        formats: Babel styles or patterns, drawn uniformly per example
            (repeat one to weight it, as the course does with "full").
        direction: "human_to_iso" (the course's task) or "iso_to_human".
        reverse_style: the Babel style of the reverse task's targets.
        first, last: the range of dates.
        fractions: the share of all dates in each split (by hash of the ISO date).
        salt: the split hash's salt.

    Returns:
        split name -> `DatePairs`, in the order of `sizes`.
    """
    locales = check_locales(locales)
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}. Received: direction={direction!r}")
    if direction == "iso_to_human":
        if reverse_style not in REVERSE_STYLES:
            raise ValueError(f"reverse_style must be one of {REVERSE_STYLES}. Received: {reverse_style!r}")
        if len(locales) != 1:
            raise ValueError(
                f"The reverse task writes dates in one locale (its input does not say which). "
                f"Received: locales={locales}"
            )
    if not formats:
        raise ValueError("Give at least one format. Received: formats=()")
    for name, size in sizes.items():
        if name not in fractions or fractions[name] <= 0:
            raise ValueError(f"Unknown split: expected one of {sorted(fractions)}. Received: {name!r}")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"Split sizes must be integers >= 0. Received: {name}={size!r}")
    if first > last:
        raise ValueError(f"first must not be after last. Received: first={first}, last={last}")
    names = list(fractions)
    edges = np.cumsum([fractions[name] for name in names])[:-1]

    assigned: dict[datetime.date, str] = {}

    def split_of(date: datetime.date) -> str:
        if date not in assigned:
            u = unit_interval(identity_hashes([date.isoformat()], salt))[0]
            assigned[date] = names[int(np.searchsorted(edges, u, side="right"))]
        return assigned[date]

    faker = Faker()
    faker.seed_instance(seed)
    rng = np.random.default_rng([seed, 0xDA7E])
    wanted = {name: size for name, size in sizes.items()}
    found: dict[str, list[tuple]] = {name: [] for name in sizes}
    days, one_day = (last - first).days + 1, datetime.timedelta(days=1)
    while any(len(found[name]) < wanted[name] for name in sizes):
        if len(assigned) == days:  # every date of the range has its split: a split without one stays empty
            empty = [
                name for name in sizes if len(found[name]) < wanted[name] and name not in assigned.values()
            ]
            if empty:
                raise ValueError(
                    f"The dates {first}..{last} are too few to fill split(s) {empty}; widen the range."
                )
        # Faker's end is exclusive (a time of day before it): ask for one day more, so `last` can be drawn.
        date = min(faker.date_between_dates(first, last + one_day), last)
        pattern = formats[int(rng.integers(len(formats)))]
        locale = locales[int(rng.integers(len(locales)))]
        name = split_of(date)
        if name in found and len(found[name]) < wanted[name]:
            human = humanize(date, pattern, locale)
            if direction == "human_to_iso":
                found[name].append((date, human, date.isoformat(), locale, pattern))
            else:
                target = humanize(date, reverse_style, locale)
                found[name].append((date, date.isoformat(), target, locale, reverse_style))
    empty = ((),) * 5
    return {name: DatePairs(*(zip(*rows, strict=True) if rows else empty)) for name, rows in found.items()}


@dataclass(frozen=True)
class CharacterVocabulary:
    """Characters <-> ids, after the special tokens <pad> = 0, <unk> = 1, <start> = 2, <eos> = 3.

    Attributes:
        characters: the characters of ids 4, 5, ..., in code-point order.

    Example:

        >>> vocabulary = CharacterVocabulary.from_texts(["1979-05-03"])
        >>> vocabulary.characters
        ('-', '0', '1', '3', '5', '7', '9')
        >>> vocabulary.encode(["1979-05", "1a"], end=True).tolist()
        [[6, 10, 9, 10, 4, 5, 8, 3], [6, 1, 3, 0, 0, 0, 0, 0]]
        >>> vocabulary.decode([2, 6, 10, 9, 10, 3, 5])
        '1979'
    """

    characters: tuple[str, ...]

    def __post_init__(self):
        if any(len(c) != 1 for c in self.characters) or len(set(self.characters)) != len(self.characters):
            raise ValueError(f"characters must be distinct single characters. Received: {self.characters!r}")
        object.__setattr__(self, "_ids", {c: i + len(SPECIAL_TOKENS) for i, c in enumerate(self.characters)})

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> CharacterVocabulary:
        """Every character of `texts` (build it from the training split only)."""
        seen: set[str] = set()
        for text in texts:
            seen.update(text)
        return cls(tuple(sorted(seen)))

    @property
    def size(self) -> int:
        """Ids in all: the characters and the four special tokens."""
        return len(self.characters) + len(SPECIAL_TOKENS)

    def ids(self, text: str, end: bool = False) -> list[int]:
        """The ids of the characters of `text` (<unk> for unknown ones), then <eos> when `end`."""
        return [self._ids.get(c, UNK) for c in text] + ([EOS] if end else [])

    def encode(self, texts: Sequence[str], length: int | None = None, end: bool = False) -> np.ndarray:
        """int32 [len(texts), length]: each text's ids (and <eos>), padded with <pad> on the right.

        `length` defaults to the longest; a longer text is a ValueError, never cut.
        """
        rows = [self.ids(text, end) for text in texts]
        longest = max((len(row) for row in rows), default=0)
        length = longest if length is None else length
        if longest > length:
            raise ValueError(f"A text needs {longest} ids, more than length={length}.")
        return keras.utils.pad_sequences(rows, maxlen=length, dtype="int32", padding="post", value=PAD)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of `ids` up to the first <eos> or <pad>; <start> is skipped, <unk> is U+FFFD."""
        characters = []
        for i in map(int, ids):
            if i in (EOS, PAD):
                break
            if i != START:
                characters.append("\ufffd" if i == UNK else self.characters[i - len(SPECIAL_TOKENS)])
        return "".join(characters)

    def unknown_share(self, texts: Sequence[str]) -> float:
        """The share of the characters of `texts` outside the vocabulary."""
        total = sum(len(t) for t in texts)
        return sum(c not in self._ids for t in texts for c in t) / total if total else 0.0

    def to_config(self) -> dict:
        return {"characters": "".join(self.characters)}

    @classmethod
    def from_config(cls, config: Mapping) -> CharacterVocabulary:
        return cls(tuple(config["characters"]))


def decoder_inputs(targets: np.ndarray) -> np.ndarray:
    """y<t-1> for t = 1..T_y, the decoder's teacher-forced inputs: <start> then the targets shifted right."""
    targets = np.asarray(targets, np.int32)
    return np.concatenate([np.full((len(targets), 1), START, np.int32), targets[:, :-1]], axis=1)


def translation_dataset(
    sources: np.ndarray, targets: np.ndarray, batch_size: int, *, shuffle: bool = False, seed: int = 0
) -> tf.data.Dataset:
    """Batches of ((x, y<t-1>), y, weights): the encoder's input, the decoder's and the targets.

    The weights are 1 on the target's characters and <eos>, 0 on padding,
    so the loss counts what the decoder must write. With `shuffle`, every
    epoch draws a new seeded order (`pipelines.datasets.index_batches`) and
    drops its last, partial batch (other examples end up there each epoch),
    so every training batch has one shape and the training step is traced once.
    """
    if len(sources) != len(targets):
        raise ValueError(f"Give one target per source. Received: {len(sources)} and {len(targets)}")
    targets = np.asarray(targets, np.int32)
    x, previous, y = host_tensors(np.asarray(sources, np.int32), decoder_inputs(targets), targets)
    weights = host_tensors((targets != PAD).astype(np.float32))[0]
    batches = index_batches(len(targets), batch_size, shuffle=shuffle, seed=seed, drop_remainder=shuffle)
    return batches.map(
        lambda indices, _: (
            (tf.gather(x, indices), tf.gather(previous, indices)),
            tf.gather(y, indices),
            tf.gather(weights, indices),
        ),
        num_parallel_calls=AUTOTUNE,
    ).prefetch(AUTOTUNE)
