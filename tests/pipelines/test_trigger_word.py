"""pipelines.trigger_word: labels where the lesson puts them, words that never overlap, seeded clips, held-out
voices, and spectrograms of the size the frame arithmetic says.

Synthesis runs espeak-ng on a tiny vocabulary (a few seconds, cached in a
temporary folder shared by the module); without espeak-ng those tests skip,
or fail under KERASDL_REQUIRE_DATA=1.
"""

import io
import wave

import keras
import numpy as np
import pytest

from pipelines import trigger_word as tw
from pipelines.sources import SourceMissingError
from tests.conftest import offline_dataset

CONFIG = tw.ClipConfig(seconds=4.0, output_steps=tw.output_steps(tw.spectrogram_frames(64_000)))
WORDS = ("captivate", "window", "garden", "motivate")


@pytest.fixture(scope="module")
def synthesizer(tmp_path_factory):
    cache = tmp_path_factory.mktemp("espeak_cache")
    return offline_dataset(lambda: tw.Synthesizer(cache_dir=cache))


@pytest.fixture(scope="module")
def dev_clips(synthesizer):
    return tw.make_clips("dev", 6, synthesizer, WORDS, CONFIG, seed=3)


# -- labels -------------------------------------------------------------------------------------------


def test_labels_are_the_m_steps_after_each_trigger_end_by_hand():
    # 10 s at 16 kHz, T_y = 247: a trigger ending at sample 64,800 ends at step 64,800 * 247 // 160,000
    # = 16,005,600 // 160,000 = 100, so steps 101..109 are 1 (M = 9). One ending at 159,000 ends at step
    # 39,273,000 // 160,000 = 245: only step 246 is left in the clip.
    labels = tw.trigger_labels([64_800, 159_000], 160_000, 247, 9)
    expected = np.zeros(247, np.float32)
    expected[101:110] = 1
    expected[246] = 1
    np.testing.assert_array_equal(labels, expected)
    # The course's own numbers: 10,000 ms and T_y = 1375, a trigger ending at 4,000 ms ends at step 550.
    course = tw.trigger_labels([4_000], 10_000, 1375, 50)
    assert np.flatnonzero(course).tolist() == list(range(551, 601))


def test_clip_labels_follow_their_trigger_segments(dev_clips):
    for labels, segments in zip(dev_clips.labels, dev_clips.segments, strict=True):
        ends = [s.end for s in segments if s.trigger]
        steps = {tw.end_step(e, CONFIG.samples, CONFIG.output_steps) + k for e in ends for k in range(1, 10)}
        assert set(np.flatnonzero(labels).tolist()) == steps
    assert dev_clips.trigger_count > 0 and dev_clips.labels.shape == (6, CONFIG.output_steps)


# -- placement ----------------------------------------------------------------------------------------


def test_placed_words_never_overlap_keep_the_gap_and_leave_the_tail():
    samples, gap, tail = 48_000, 1_600, 4_000
    for seed in range(200):
        rng = np.random.default_rng(seed)
        lengths = rng.integers(3_000, 14_000, size=rng.integers(1, 7)).tolist()
        starts = tw.place_segments(lengths, samples, gap, tail, rng)
        spans = sorted((s, s + n) for s, n in zip(starts, lengths, strict=True) if s is not None)
        assert all(0 <= s and e <= samples - tail for s, e in spans)
        assert all(a_end + gap <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False))
    # A word longer than the room it has is left out, never squeezed in.
    assert tw.place_segments([50_000], samples, gap, tail, np.random.default_rng(0)) == [None]


def test_words_in_synthesized_clips_do_not_overlap(dev_clips):
    for segments in dev_clips.segments:
        for a, b in zip(segments, segments[1:], strict=False):
            assert a.end + int(CONFIG.gap_seconds * tw.SAMPLE_RATE) <= b.start
        assert all(s.word == tw.TRIGGER or s.word in WORDS for s in segments)
        assert all(s.trigger == (s.word == tw.TRIGGER) for s in segments)


# -- determinism ---------------------------------------------------------------------------------------


def test_clips_are_the_same_for_a_seed_and_do_not_depend_on_the_count(synthesizer, dev_clips):
    again = tw.make_clips("dev", 4, synthesizer, WORDS, CONFIG, seed=3)
    np.testing.assert_array_equal(again.audio, dev_clips.audio[:4])
    np.testing.assert_array_equal(again.labels, dev_clips.labels[:4])
    assert again.segments == dev_clips.segments[:4]
    other = tw.make_clips("dev", 4, synthesizer, WORDS, CONFIG, seed=4)
    assert not np.array_equal(other.audio, again.audio)


def test_words_are_cached_and_read_back_identically(synthesizer, dev_clips):
    reread = tw.Synthesizer(cache_dir=synthesizer.cache_dir)
    clips = tw.make_clips("dev", 6, reread, WORDS, CONFIG, seed=3)
    assert reread.synthesized == 0 and reread.from_cache > 0
    np.testing.assert_array_equal(clips.audio, dev_clips.audio)


# -- voices --------------------------------------------------------------------------------------------


def test_held_out_voices_share_no_accent_or_variant_with_training_voices():
    splits = tw.voice_splits()
    assert splits["train"] == splits["train_dev"]
    train = splits["train"]
    held_out = splits["dev"] + splits["test"]
    assert len(train) == 6 * 12 and len(splits["dev"]) == len(splits["test"]) == 4
    assert not {v.name for v in train} & {v.name for v in held_out}
    assert not {v.accent for v in train} & {v.accent for v in held_out}
    assert not {v.variant for v in train} & {v.variant for v in held_out}
    assert not {v.name for v in splits["dev"]} & {v.name for v in splits["test"]}
    # the checkerboard: dev and test each hear every held-out accent and variant
    for split in ("dev", "test"):
        assert {v.accent for v in splits[split]} == set(tw.UNSEEN_ACCENTS)
        assert {v.variant for v in splits[split]} == set(tw.UNSEEN_VARIANTS)


def test_clips_use_only_their_splits_voices(dev_clips):
    assert set(dev_clips.voices) <= {v.name for v in tw.voice_splits()["dev"]}


def test_a_voice_speed_and_pitch_come_from_its_name():
    voice = tw.make_voice("en-us", "m3")
    assert voice == tw.make_voice("en-us", "m3")
    assert tw.SPEEDS[0] <= voice.speed <= tw.SPEEDS[1] and tw.PITCHES[0] <= voice.pitch <= tw.PITCHES[1]
    assert voice.espeak_flags() == ["-v", "en-us+m3", "-s", str(voice.speed), "-p", str(voice.pitch)]


# -- spectrograms and audio -------------------------------------------------------------------------


def test_spectrogram_shape_is_the_frame_arithmetic_and_the_conv_gives_t_y():
    audio = np.random.default_rng(0).integers(-3000, 3000, size=(2, 160_000)).astype(np.int16)
    spectrogram = tw.log_spectrogram(audio)
    assert spectrogram.shape == (2, 1 + (160_000 - 256) // 160, 129) == (2, 999, 129)
    assert tw.spectrogram_frames(160_000) == 999
    conv = keras.layers.Conv1D(4, 15, strides=4)  # the oracle: Keras' own shape arithmetic
    assert conv.compute_output_shape((None, 999, 129))[1] == tw.output_steps(999) == 247


def test_log_spectrogram_equals_a_numpy_stft():
    audio = np.random.default_rng(1).integers(-20000, 20000, size=4_000).astype(np.int16)
    x = audio / 32768.0
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(256) / 256)  # periodic Hann, as tf.signal's
    frames = np.stack([x[i * 160 : i * 160 + 256] for i in range(tw.spectrogram_frames(4_000))])
    expected = np.log(np.abs(np.fft.rfft(frames * window, n=256)) + 1e-6)
    np.testing.assert_allclose(tw.log_spectrogram(audio).numpy(), expected, atol=2e-3)


def test_wav_bytes_with_a_wrong_frame_count_are_read_to_the_end():
    samples = np.array([0, 1000, -1000, 32767, -32768], np.int16)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(22_050)
        writer.writeframes(samples.tobytes())
    data = bytearray(buffer.getvalue())
    data[40:44] = (0x7FFFFFFF).to_bytes(4, "little")  # what espeak-ng writes to a pipe
    read, rate = tw.read_wav_bytes(bytes(data))
    assert rate == 22_050
    np.testing.assert_array_equal(read, samples / 32768.0)


def test_trim_silence_keeps_from_the_first_to_the_last_loud_sample():
    x = np.array([0.0, 0.001, 0.5, 0.0, -1.0, 0.01, 0.0])
    np.testing.assert_array_equal(tw.trim_silence(x, level=0.02), [0.5, 0.0, -1.0])


# -- words and errors ---------------------------------------------------------------------------------


def test_negative_words_hold_the_close_words_and_never_the_trigger(tmp_path):
    word_list = tmp_path / "words"
    word_list.write_text(
        "\n".join(["activated", "reactivate", "Apple", "don't", "ox", "banana", "cherry", "plum"])
    )
    words = tw.negative_words(3, seed=0, word_list=word_list)
    assert words[: len(tw.CLOSE_WORDS)] == tw.CLOSE_WORDS
    assert sorted(words[len(tw.CLOSE_WORDS) :]) == ["banana", "cherry", "plum"]
    with pytest.raises(ValueError, match="has 3 usable words. Received: count=4"):
        tw.negative_words(4, word_list=word_list)
    with pytest.raises(SourceMissingError, match="apt-get install wamerican"):
        tw.negative_words(3, word_list=tmp_path / "missing")


def test_missing_espeak_is_one_clear_error_naming_the_package(monkeypatch):
    monkeypatch.setattr(tw.shutil, "which", lambda name: None)
    with pytest.raises(
        SourceMissingError, match=r"espeak-ng is not installed: install Debian's package espeak-ng"
    ):
        tw.Synthesizer()


def test_unknown_split_and_background_are_refused(synthesizer):
    with pytest.raises(ValueError, match="Unknown split"):
        tw.make_clips("validation", 1, synthesizer, WORDS, CONFIG)
    with pytest.raises(ValueError, match="Unknown background"):
        tw.background("rain", 100, np.random.default_rng(0), [])
