"""pipelines.dates: deterministic, split by date, round trips, and text that says the date Faker drew.

The oracle of the English text is written here without Babel: Python's `calendar` month and weekday
names and the course's patterns spelled out (en_US's Babel styles are "M/d/yy", "MMM d, y",
"MMMM d, y" and "EEEE, MMMM d, y").
"""

import calendar
import datetime

import numpy as np
import pytest

from pipelines.dates import (
    COURSE_FORMATS,
    EOS,
    PAD,
    START,
    UNK,
    CharacterVocabulary,
    date_splits,
    decoder_inputs,
    humanize,
    translation_dataset,
)

SIZES = {"train": 400, "dev": 60, "test": 60}
MONTHS = {
    "fr_FR": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre".split(),
    "de_DE": "januar februar märz april mai juni juli august september oktober november dezember".split(),
}


def english(date: datetime.date, pattern: str) -> str:
    """The course's text of `date` in en_US, lowercased and without commas, from Python's own names."""
    d, m, y = date.day, date.month, date.year
    month, abbr = calendar.month_name[m].lower(), calendar.month_abbr[m].lower()
    weekday = calendar.day_name[date.weekday()].lower()
    return {
        "short": f"{m}/{d}/{y % 100:02d}",
        "medium": f"{abbr} {d} {y}",
        "long": f"{month} {d} {y}",
        "full": f"{weekday} {month} {d} {y}",
        "d MMM y": f"{d} {abbr} {y}",
        "d MMMM y": f"{d} {month} {y}",
        "dd MMM y": f"{d:02d} {abbr} {y}",
        "d MMM, y": f"{d} {abbr} {y}",
        "d MMMM, y": f"{d} {month} {y}",
        "dd, MMM y": f"{d:02d} {abbr} {y}",
        "d MM yy": f"{d} {m:02d} {y % 100:02d}",
        "MMMM d y": f"{month} {d} {y}",
        "MMMM d, y": f"{month} {d} {y}",
        "dd.MM.yy": f"{d:02d}.{m:02d}.{y % 100:02d}",
    }[pattern]


@pytest.fixture(scope="module")
def splits():
    return date_splits(SIZES, seed=3)


class TestGeneration:
    def test_sizes_and_the_same_data_for_the_same_seed(self, splits):
        assert {name: len(pairs) for name, pairs in splits.items()} == SIZES
        assert date_splits(SIZES, seed=3) == splits
        assert date_splits(SIZES, seed=4)["dev"].sources != splits["dev"].sources

    def test_a_split_does_not_depend_on_the_sizes_of_the_others(self, splits):
        alone = date_splits({"dev": 60}, seed=3)["dev"]
        assert alone == splits["dev"]
        assert date_splits({"dev": 30, "test": 5}, seed=3)["dev"].sources == splits["dev"].sources[:30]

    def test_each_date_is_in_one_split_only(self, splits):
        dates = {name: set(pairs.dates) for name, pairs in splits.items()}
        assert not dates["train"] & dates["dev"] and not dates["train"] & dates["test"]
        assert not dates["dev"] & dates["test"]

    def test_targets_are_the_iso_dates_faker_drew(self, splits):
        for pairs in splits.values():
            for date, target in zip(pairs.dates, pairs.targets, strict=True):
                assert datetime.date.fromisoformat(target) == date
                assert datetime.date(1970, 1, 1) <= date <= datetime.date(2029, 12, 31)

    def test_the_text_says_the_same_date(self, splits):
        for pairs in splits.values():
            for date, source, pattern in zip(pairs.dates, pairs.sources, pairs.patterns, strict=True):
                assert source == english(date, pattern), (date, pattern)

    def test_the_range_includes_its_last_day(self):
        first = datetime.date(2000, 2, 27)
        pairs = date_splits({"train": 60}, first=first, last=first + datetime.timedelta(days=2),
                            fractions={"train": 1.0})["train"]  # fmt: skip
        assert sorted(set(pairs.dates)) == [first + datetime.timedelta(days=i) for i in range(3)]

    def test_every_course_format_is_used_with_full_weighted_as_in_the_course(self, splits):
        patterns = splits["train"].patterns
        assert set(patterns) == set(COURSE_FORMATS)
        assert patterns.count("full") > 4 * patterns.count("short")  # 10 of 24 against 1 of 24

    @pytest.mark.parametrize("date", [datetime.date(2008, 12, 29), datetime.date(2019, 12, 31)])
    def test_years_are_calendar_years_not_week_based_years(self, date):
        # The course's "YYY" writes the week-based year: in en_US the week of 1 January belongs to the new
        # year, so 29 Dec 2008 is written "2009".
        assert humanize(date, "d MMM YYY", "en_US").split()[-1] != str(date.year)
        for pattern in COURSE_FORMATS:
            assert humanize(date, pattern, "en_US") == english(date, pattern)

    def test_other_locales_write_their_own_month_names(self):
        pairs = date_splits({"dev": 60}, seed=0, locales=("fr_FR", "de_DE"))["dev"]
        assert set(pairs.locales) == {"fr_FR", "de_DE"}
        spelled = [i for i, p in enumerate(pairs.patterns) if "MMMM" in p or p in ("long", "full")]
        assert spelled
        for i in spelled:
            month = MONTHS[pairs.locales[i]][pairs.dates[i].month - 1]
            assert month in pairs.sources[i].split(), (pairs.sources[i], month)
        assert humanize(datetime.date(1979, 5, 3), "full", "fr_FR") == "jeudi 3 mai 1979"

    def test_the_reverse_task_spells_iso_dates_out(self):
        pairs = date_splits({"dev": 30}, seed=1, direction="iso_to_human")["dev"]
        for date, source, target in zip(pairs.dates, pairs.sources, pairs.targets, strict=True):
            assert source == date.isoformat() and target == english(date, "long")
        assert len({len(t) for t in pairs.targets}) > 3  # outputs of varying length
        full = date_splits({"dev": 5}, seed=1, direction="iso_to_human", reverse_style="full")["dev"]
        assert all(t == english(d, "full") for d, t in zip(full.dates, full.targets, strict=True))

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"locales": ("xx_YY",)}, "Unknown locale 'xx_YY'"),
            ({"locales": ()}, "Give at least one locale"),
            ({"direction": "sideways"}, "direction must be one of"),
            ({"direction": "iso_to_human", "locales": ("en_US", "fr_FR")}, "writes dates in one locale"),
            ({"sizes": {"validation": 3}}, "Unknown split"),
            ({"sizes": {"dev": -1}}, "Split sizes must be integers >= 0"),
            ({"first": datetime.date(2000, 1, 1), "last": datetime.date(2000, 1, 3)}, "too few to fill"),
        ],
    )
    def test_bad_arguments(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            date_splits(**{"sizes": {"dev": 5, "train": 5}, **kwargs})


class TestVocabulary:
    def test_covers_the_data_and_round_trips(self, splits):
        vocabulary = CharacterVocabulary.from_texts(splits["train"].sources)
        for pairs in splits.values():
            encoded = vocabulary.encode(pairs.sources)
            assert not np.any(encoded == UNK)
            assert [vocabulary.decode(row) for row in encoded] == list(pairs.sources)
        assert vocabulary.unknown_share(splits["dev"].sources) == 0.0

    def test_targets_end_with_eos_and_padding(self, splits):
        vocabulary = CharacterVocabulary.from_texts(splits["train"].targets)
        assert vocabulary.characters == tuple("-0123456789")
        encoded = vocabulary.encode(["1979-05-03", "2001-1-1"], end=True)
        assert encoded.shape == (2, 11) and encoded[0, 10] == EOS and list(encoded[1, 8:]) == [EOS, PAD, PAD]
        assert vocabulary.decode(encoded[1]) == "2001-1-1"
        assert vocabulary.decode([START, *encoded[0]]) == "1979-05-03"

    def test_unknown_characters_and_too_long_texts(self):
        vocabulary = CharacterVocabulary.from_texts(["abc"])
        assert vocabulary.decode(vocabulary.encode(["abz"])[0]) == "ab\ufffd"
        with pytest.raises(ValueError, match="more than length=2"):
            vocabulary.encode(["abc"], length=2)
        assert CharacterVocabulary.from_config(vocabulary.to_config()) == vocabulary


def test_the_dataset_teacher_forces_and_weights_out_padding():
    vocabulary = CharacterVocabulary.from_texts(["may 3 1979", "1979-05-03"])
    sources = vocabulary.encode(["may 3 1979", "3 may"])
    targets = vocabulary.encode(["1979-05-03", "05-03"], end=True)
    np.testing.assert_array_equal(decoder_inputs(targets)[:, 0], [START, START])
    np.testing.assert_array_equal(decoder_inputs(targets)[:, 1:], targets[:, :-1])
    ((x, previous), y, weights) = next(iter(translation_dataset(sources, targets, batch_size=2)))
    np.testing.assert_array_equal(x.numpy(), sources)
    np.testing.assert_array_equal(previous.numpy(), decoder_inputs(targets))
    np.testing.assert_array_equal(y.numpy(), targets)
    np.testing.assert_array_equal(weights.numpy(), (targets != PAD).astype("float32"))
