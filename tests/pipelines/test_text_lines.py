"""pipelines.text_lines: deterministic by seed, split by text, labels in CTCLoss's convention, and readable.

"Readable" is checked without the renderer's own bookkeeping: a line drawn in ink on a blank background
has ink exactly where PIL draws the text with the same font (an independent `ImageDraw.textbbox`), and
the CTC loss of a perfect per-frame path for the labels is ~0 under kerasdl's CTCLoss, whose greedy
decode gives the text back.
"""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from kerasdl.nn.ctc import CTCLoss, ctc_decode
from pipelines.sources import SourceMissingError
from pipelines.text_lines import (
    ALPHABET,
    BLANK,
    NUM_CLASSES,
    PAD,
    RenderSettings,
    decode_ids,
    encode_texts,
    find_fonts,
    line_dataset,
    load_words,
    render_line,
    split_fonts,
    text_line_splits,
)

SIZES = {"train": 60, "dev": 20, "test": 20}


@pytest.fixture(scope="module")
def words():
    return load_words()


@pytest.fixture(scope="module")
def fonts():
    return find_fonts()


@pytest.fixture(scope="module")
def splits(words, fonts):
    return text_line_splits(SIZES, words, fonts, seed=5)


def test_the_word_list_keeps_lowercase_ascii_words_only(words):
    assert len(words) > 50_000  # wamerican 2020.12.07: 63,875
    assert all(w.isascii() and w.isalpha() and w.islower() for w in words)
    assert len(set(words)) == len(words)


def test_the_fonts_are_debians_dejavu_and_liberation(fonts):
    names = {f.stem for f in fonts}
    assert {
        "DejaVuSans",
        "DejaVuSerif-Italic",
        "LiberationMono-Regular",
        "LiberationSansNarrow-Bold",
    } <= names
    assert "DejaVuMathTeXGyre" not in names and "DejaVuSans-ExtraLight" not in names


def test_missing_sources_name_the_debian_package(tmp_path, monkeypatch):
    with pytest.raises(SourceMissingError, match="apt-get install wamerican"):
        load_words(tmp_path / "nothing")
    monkeypatch.setenv("KERASDL_FONTS_DIR", str(tmp_path))
    with pytest.raises(SourceMissingError, match="fonts-dejavu-core fonts-dejavu-extra fonts-liberation"):
        find_fonts()


def test_the_words_file_can_be_any_list(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("Apple\nbanana\nbanana\ncafé\nit's\ncherry\n")
    assert load_words(path) == ("banana", "cherry")


def test_shapes_and_the_character_set(splits):
    for name, size in SIZES.items():
        lines = splits[name]
        assert lines.images.shape == (size, 32, 256) and lines.images.dtype == np.uint8
        assert len(lines.texts) == len(lines.fonts) == size
        for text in lines.texts:
            assert 1 <= len(text.split(" ")) <= 3 and len(text) <= 24
            assert set(text) <= set(ALPHABET) and text == text.strip() and "  " not in text


def test_the_same_seed_gives_the_same_lines_pixel_for_pixel(splits, words, fonts):
    again = text_line_splits(SIZES, words, fonts, seed=5)
    other = text_line_splits(SIZES, words, fonts, seed=6)
    for name in SIZES:
        assert again[name].texts == splits[name].texts and again[name].fonts == splits[name].fonts
        np.testing.assert_array_equal(again[name].images, splits[name].images)
        assert other[name].texts != splits[name].texts


def test_splits_are_disjoint_by_text_and_do_not_depend_on_each_other(splits, words, fonts):
    texts = {name: set(lines.texts) for name, lines in splits.items()}
    assert not texts["train"] & texts["dev"] and not texts["train"] & texts["test"]
    assert not texts["dev"] & texts["test"]
    more_train = text_line_splits({"train": 90, "test": 20}, words, fonts, seed=5)
    assert (
        more_train["test"].texts == splits["test"].texts
    )  # asking for more training lines changes no test line
    assert more_train["train"].texts[:60] == splits["train"].texts


def test_held_out_fonts_draw_the_same_texts_in_other_fonts(words, fonts):
    kept, held = split_fonts(fonts, ["LiberationSerif"])
    assert {f.stem for f in held} == {
        f"LiberationSerif-{s}" for s in ("Regular", "Bold", "Italic", "BoldItalic")
    }
    assert not set(kept) & set(held) and len(kept) + len(held) == len(fonts)
    seen = text_line_splits({"test": 20}, words, kept, seed=1)["test"]
    unseen = text_line_splits({"test": 20}, words, held, seed=1)["test"]
    assert seen.texts == unseen.texts
    assert set(unseen.fonts) <= {f.stem for f in held} and not set(seen.fonts) & {f.stem for f in held}
    with pytest.raises(ValueError, match="No font's name starts with 'Comic'"):
        split_fonts(fonts, ["Comic"])


def test_labels_use_ctclosss_blank_and_pad():
    assert BLANK == CTCLoss().blank and PAD == CTCLoss().pad and NUM_CLASSES == 28
    labels = encode_texts(["ab z", "c"], length=5)
    assert labels.tolist() == [[2, 3, 1, 27, PAD], [4, PAD, PAD, PAD, PAD]]
    assert BLANK not in labels
    assert decode_ids([2, 3, 1, 27]) == "ab z"
    with pytest.raises(ValueError, match="Characters outside"):
        encode_texts(["Ab"])
    with pytest.raises(ValueError, match="more than length=2"):
        encode_texts(["abc"], length=2)


def test_a_perfect_path_decodes_to_the_text_and_costs_nothing(splits):
    """The round trip: labels -> a per-frame path with blanks between characters -> CTC loss and decode."""
    texts = splits["dev"].texts[:6]
    labels = splits["dev"].labels(24)[: len(texts)]
    frames = 64
    logits = np.full((len(texts), frames, NUM_CLASSES), -30.0, np.float32)
    for i, row in enumerate(labels):
        ids = row[row != PAD]
        path = [BLANK] * frames
        for k, c in enumerate(ids):
            path[2 * k + 1] = int(c)  # c, blank, c: a repeated letter survives the collapse
        logits[i, np.arange(frames), path] = 30.0
    assert [decode_ids(ids) for ids in ctc_decode(logits)] == list(texts)
    loss = CTCLoss(reduction=None)(labels, logits)
    np.testing.assert_allclose(np.asarray(loss), 0.0, atol=1e-3)


def test_ink_is_where_pil_draws_the_text(fonts):
    """No noise, blur or jitter: the ink PIL draws at the origin, moved to the left margin and centred."""
    font = next(f for f in fonts if f.stem == "DejaVuSans")
    image = render_line("hello world", font, 20, RenderSettings(), background=255, ink=0)
    face = ImageFont.truetype(str(font), 20)
    reference = Image.new("L", (400, 100), 255)
    ImageDraw.Draw(reference).text((0, 0), "hello world", font=face, fill=0)
    ref_rows, ref_columns = np.nonzero(np.asarray(reference) < 128)
    rows, columns = np.nonzero(image < 128)
    left = ImageDraw.Draw(reference).textbbox((0, 0), "hello world", font=face)[0]
    ascent, descent = face.getmetrics()
    x, y = 2 - left, (32 - (ascent + descent)) // 2  # the margin; the font's line box centred
    assert (columns.min(), columns.max()) == (ref_columns.min() + x, ref_columns.max() + x)
    assert (rows.min(), rows.max()) == (ref_rows.min() + y, ref_rows.max() + y)
    assert len(columns) == len(ref_columns)  # the same glyphs, not just the same box


def test_a_line_too_wide_is_drawn_smaller_to_fit(fonts):
    font = next(f for f in fonts if f.stem == "LiberationMono-Bold")
    image = render_line("x" * 24, font, 40, RenderSettings(), background=255, ink=0)
    columns = np.nonzero((image < 128).any(axis=0))[0]
    assert columns.min() >= 1 and columns.max() <= 254


def test_the_dataset_inverts_pixels_and_pads_labels(splits):
    batches = list(line_dataset(splits["dev"], 8, 24))
    images, labels = batches[0]
    assert images.shape == (8, 32, 256, 1) and labels.shape == (8, 24)
    np.testing.assert_allclose(images.numpy()[..., 0], 1 - splits["dev"].images[:8] / 255.0, atol=1e-6)
    np.testing.assert_array_equal(labels.numpy(), splits["dev"].labels(24)[:8])
    assert sum(len(b[1]) for b in batches) == SIZES["dev"]
    shuffled = list(line_dataset(splits["train"], 16, 24, shuffle=True, seed=1))
    assert len(shuffled) == SIZES["train"] // 16 and all(b[0].shape[0] == 16 for b in shuffled)
