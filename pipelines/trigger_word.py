"""Trigger-word clips synthesized offline: espeak-ng speech over generated noise, labels after each trigger.

Course 5, Week 3, the programming exercise "Trigger word detection": 10 s
clips in which a trigger word ("activate") and other words are said at
random, non-overlapping positions over a background; the label of output
step t is 1 for the M steps right after the end of each trigger and 0
everywhere else (the course: M = 50 of T_y = 1375 steps, 0.36 s).

Where the audio comes from (nothing is downloaded):

- Speech: Debian's `espeak-ng` (a formant synthesizer), run as a subprocess,
  one word per call. A voice is an accent (`ACCENTS`, e.g. "en-gb-scotland")
  with a variant (`VARIANTS`: "m3", "f2", "klatt", "croak", ...) and its own
  speed (words per minute) and pitch, drawn from a hash of its name: 8
  accents x 16 variants = 128 voices. espeak-ng writes 22,050 Hz; the words
  are resampled to 16 kHz (scipy's polyphase filter) and their leading and
  trailing silence trimmed, so a word's end is where its sound ends. Each
  (voice, word) is synthesized once and cached under the data home
  (`pipelines.sources.data_home()`/trigger_word/espeak-ng-<version>/), so
  later runs read it back.
- Other words (negatives): `CLOSE_WORDS`, which sound like "activate"
  ("captivate", "activity", ...), and words drawn from Debian's `wamerican`
  word list (/usr/share/dict/american-english).
- Backgrounds, generated: pink (1/f) noise, brown (1/f^2) noise, mains hum
  (50 or 60 Hz and harmonics over faint white noise) and babble (words of
  other voices of the same split, overlapped). No Debian sound package is
  used.

The data mismatch: dev and test voices are never heard in training. The
voices of the accents `UNSEEN_ACCENTS` crossed with the variants
`UNSEEN_VARIANTS` are held out (8 voices, split 4 / 4 into dev and test in a
checkerboard); training uses the other accents with the other variants (6 x
12 = 72 voices), so a held-out voice shares neither its accent nor its
variant with any training voice. train-dev is more clips of the training
voices, the training distribution not trained on: train / train-dev / dev /
test feed the Course 3 decomposition.

Each clip is drawn from its own generator, `numpy.random.default_rng((seed,
split, index))`: the same seed gives the same clips, and a clip does not
depend on how many others were asked for. One voice says every word of a
clip (one person talks to the device); the babble is other voices.

Spectrograms (`log_spectrogram`): `tf.signal.stft` with frames of 256
samples (16 ms) every 160 samples (10 ms), a 256-point FFT (129 bins up to 8
kHz) and a Hann window; the features are log(|STFT| + 1e-6). A 10 s clip
has 1 + (160000 - 256) // 160 = 999 frames; the course's Conv1D (kernel 15,
stride 4, no padding) turns them into (999 - 15) // 4 + 1 = 247 output steps
of 40 ms, so the course's 0.36 s of ones after a trigger is M = 9 steps.
A trigger ending at sample e ends at output step floor(e * T_y / samples)
(the course's proportional mapping) and steps end+1 .. end+M are labelled 1.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import re
import shutil
import subprocess
import wave
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.signal
import tensorflow as tf

from pipelines.hashing import identity_hashes, per_example_uniform
from pipelines.sources import SourceMissingError, data_home

SAMPLE_RATE = 16_000
ESPEAK_SAMPLE_RATE = 22_050
TRIGGER = "activate"
WORD_LIST = "/usr/share/dict/american-english"
ACCENTS = (
    "en-us", "en-gb", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-us-nyc",
    "en-gb-scotland", "en-029",
)  # fmt: skip
VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4",
    "klatt", "klatt2", "klatt3", "klatt4", "croak",
)  # fmt: skip
UNSEEN_ACCENTS = ("en-gb-scotland", "en-029")  # no training voice has these accents
UNSEEN_VARIANTS = ("m4", "f3", "klatt2", "croak")  # ... nor these variants
SPEEDS = (130, 190)  # words per minute, the range a voice's speed is drawn from
PITCHES = (25, 75)  # espeak-ng's pitch, 0..99
# Words that sound like the trigger: the false accepts a detector must learn to refuse.
CLOSE_WORDS = (
    "captivate", "cultivate", "motivate", "activity", "active", "activist", "action", "actuate",
    "aggravate", "navigate", "elevate", "evaluate", "acting", "attic", "vacate", "rotate",
)  # fmt: skip
BACKGROUNDS = ("pink", "brown", "hum", "babble")
SPLITS = ("train", "train_dev", "dev", "test")
_SPLIT_CODES = {name: code for code, name in enumerate(SPLITS)}
_TRIM_LEVEL = 0.02  # a word's sound starts and ends where |x| first/last exceeds this share of its peak
_WORD = re.compile(r"^[a-z]{3,10}$")


# --------------------------------------------------------------------------- voices


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: an espeak-ng accent and variant with its own speed and pitch."""

    accent: str
    variant: str
    speed: int
    pitch: int

    @property
    def name(self) -> str:
        return f"{self.accent}+{self.variant}"

    def espeak_flags(self) -> list[str]:
        return ["-v", self.name, "-s", str(self.speed), "-p", str(self.pitch)]


def make_voice(accent: str, variant: str) -> Voice:
    """The voice of an accent and variant; its speed and pitch come from a hash of its name."""
    u = per_example_uniform(identity_hashes([f"{accent}+{variant}"], salt="voice"), 2)[0]
    speed = int(SPEEDS[0] + u[0] * (SPEEDS[1] - SPEEDS[0]))
    pitch = int(PITCHES[0] + u[1] * (PITCHES[1] - PITCHES[0]))
    return Voice(accent, variant, speed, pitch)


def voice_splits() -> dict[str, tuple[Voice, ...]]:
    """The voices of each split: train and train_dev share the training voices; dev and test are unseen.

    Training voices: accents not in UNSEEN_ACCENTS with variants not in
    UNSEEN_VARIANTS. Held-out voices: UNSEEN_ACCENTS x UNSEEN_VARIANTS,
    alternately to dev and test (a checkerboard, so both have every unseen
    accent and variant).
    """
    training = tuple(
        make_voice(a, v)
        for a in ACCENTS
        if a not in UNSEEN_ACCENTS
        for v in VARIANTS
        if v not in UNSEEN_VARIANTS
    )
    unseen = [
        (i + j, make_voice(a, v)) for i, a in enumerate(UNSEEN_ACCENTS) for j, v in enumerate(UNSEEN_VARIANTS)
    ]
    return {
        "train": training,
        "train_dev": training,
        "dev": tuple(voice for parity, voice in unseen if parity % 2 == 0),
        "test": tuple(voice for parity, voice in unseen if parity % 2 == 1),
    }


# --------------------------------------------------------------------------- words


def negative_words(count: int, seed: int = 0, word_list: str | os.PathLike = WORD_LIST) -> tuple[str, ...]:
    """CLOSE_WORDS plus `count` words drawn (seeded) from the word list: lowercase, 3-10 letters.

    Words that contain the trigger ("activated", "reactivate") are left out:
    hearing "activate" in them is not a false accept.
    """
    path = Path(word_list)
    if not path.is_file():
        raise SourceMissingError(
            f"No word list at {path}. Install Debian's wamerican package (`apt-get install wamerican`)."
        )
    words = sorted(
        {
            w
            for w in path.read_text(encoding="utf-8", errors="replace").split()
            if _WORD.match(w) and TRIGGER not in w and w not in CLOSE_WORDS
        }
    )
    if count > len(words):
        raise ValueError(f"The word list has {len(words)} usable words. Received: count={count}")
    chosen = np.random.default_rng(seed).choice(len(words), size=count, replace=False)
    return CLOSE_WORDS + tuple(words[i] for i in sorted(chosen))


# --------------------------------------------------------------------------- synthesis


def espeak_path() -> str:
    """The espeak-ng executable, or a SourceMissingError that says how to install it."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise SourceMissingError(
            "espeak-ng is not installed: install Debian's package espeak-ng (`apt-get install espeak-ng`)."
        )
    return path


@functools.lru_cache(maxsize=1)
def espeak_version() -> str:
    """espeak-ng's version number, e.g. "1.51": part of the cache folder's name."""
    output = subprocess.run([espeak_path(), "--version"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"(\d+(?:\.\d+)+)", output)
    return found.group(1) if found else "unknown"


def read_wav_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """(float32 samples in [-1, 1], sample rate) of 16-bit mono WAV bytes.

    espeak-ng writing to stdout cannot seek back to fill in the data size, so
    the header's frame count is wrong: the samples are everything after the
    "data" chunk header.
    """
    with wave.open(io.BytesIO(data)) as reader:
        rate, width, channels = reader.getframerate(), reader.getsampwidth(), reader.getnchannels()
    if width != 2 or channels != 1:
        raise ValueError(f"Expected 16-bit mono WAV. Received: {8 * width}-bit, {channels} channels")
    start = data.find(b"data") + 8
    raw = data[start : start + (len(data) - start) // 2 * 2]
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0, rate


def trim_silence(samples: np.ndarray, level: float = _TRIM_LEVEL) -> np.ndarray:
    """The samples from the first to the last whose magnitude exceeds `level` times the peak."""
    loud = np.flatnonzero(np.abs(samples) > level * np.max(np.abs(samples), initial=0.0))
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples[:0]


@dataclass
class Synthesizer:
    """Says words in voices with espeak-ng, caching each (voice, word) as int16 16 kHz in `cache_dir`.

    Attributes:
        cache_dir: where the words are stored; default data_home()/trigger_word/espeak-ng-<version>.
        workers: espeak-ng processes run at once.
        synthesized, from_cache: how many words were made by espeak-ng, and read back.
    """

    cache_dir: Path | None = None
    workers: int = 2
    synthesized: int = 0
    from_cache: int = 0
    _memory: dict[tuple[str, str], np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        executable = espeak_path()
        if self.cache_dir is None:
            self.cache_dir = data_home() / "trigger_word" / f"espeak-ng-{espeak_version()}"
        self.cache_dir = Path(self.cache_dir)
        self._executable = executable

    def _path(self, voice: Voice, word: str) -> Path:
        key = f"{voice.accent}|{voice.variant}|{voice.speed}|{voice.pitch}|{word}"
        return self.cache_dir / f"{hashlib.sha1(key.encode()).hexdigest()}.npy"

    def _make(self, voice: Voice, word: str) -> np.ndarray:
        result = subprocess.run(
            [self._executable, *voice.espeak_flags(), "--stdout", word], capture_output=True, check=False
        )
        if result.returncode != 0 or len(result.stdout) < 64:
            raise RuntimeError(
                f"espeak-ng failed to say {word!r} in voice {voice.name}: {result.stderr.decode()[-300:]}"
            )
        samples, rate = read_wav_bytes(result.stdout)
        samples = scipy.signal.resample_poly(samples, SAMPLE_RATE, rate) if rate != SAMPLE_RATE else samples
        audio = np.clip(np.round(trim_silence(samples) * 32767), -32768, 32767).astype(np.int16)
        path = self._path(voice, word)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(temporary, audio)
        os.replace(temporary, path)  # atomic: a killed run leaves no half-written word
        return audio

    def prepare(self, pairs: Iterable[tuple[Voice, str]]) -> None:
        """Makes sure every (voice, word) is in memory: read from the cache, or synthesized in parallel."""
        missing = []
        for voice, word in dict.fromkeys(pairs):
            if (voice.name, word) in self._memory:
                continue
            path = self._path(voice, word)
            if path.is_file():
                self._memory[voice.name, word] = np.load(path)
                self.from_cache += 1
            else:
                missing.append((voice, word))
        with ThreadPoolExecutor(max(1, self.workers)) as pool:
            for (voice, word), audio in zip(
                missing, pool.map(lambda p: self._make(*p), missing), strict=True
            ):
                self._memory[voice.name, word] = audio
        self.synthesized += len(missing)

    def say(self, voice: Voice, word: str) -> np.ndarray:
        """The word in the voice: float32 samples at 16 kHz, silence trimmed."""
        self.prepare([(voice, word)])
        return self._memory[voice.name, word].astype(np.float32) / 32768.0


# --------------------------------------------------------------------------- clips


@dataclass(frozen=True)
class ClipConfig:
    """How clips are made and labelled.

    Attributes:
        seconds: clip length.
        triggers: (fewest, most) trigger words per clip, drawn uniformly.
        negatives: (fewest, most) other words per clip.
        label_steps: M, output steps labelled 1 after each trigger's end.
        output_steps: T_y, the model's output steps per clip (`output_steps`).
        gap_seconds: the least silence between two words.
        snr_db: (lowest, highest) speech-to-background ratio in dB, drawn per clip.
    """

    seconds: float = 10.0
    triggers: tuple[int, int] = (0, 3)
    negatives: tuple[int, int] = (0, 3)
    label_steps: int = 9
    output_steps: int = 247
    gap_seconds: float = 0.1
    snr_db: tuple[float, float] = (5.0, 25.0)

    @property
    def samples(self) -> int:
        return int(round(self.seconds * SAMPLE_RATE))


@dataclass(frozen=True)
class Segment:
    """A word placed in a clip: samples [start, end) hold it."""

    word: str
    start: int
    end: int
    trigger: bool


@dataclass(frozen=True)
class TriggerClips:
    """Clips of one split.

    Attributes:
        audio: int16 [N, samples] at 16 kHz.
        labels: float32 [N, T_y], 1 in the M steps after each trigger's end.
        segments: the words of each clip, in time order.
        voices: the voice name of each clip.
        backgrounds: the background kind of each clip.
    """

    audio: np.ndarray
    labels: np.ndarray
    segments: tuple[tuple[Segment, ...], ...]
    voices: tuple[str, ...]
    backgrounds: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.audio)

    def take(self, indices: Sequence[int]) -> TriggerClips:
        """The clips at `indices`, in that order."""
        return TriggerClips(
            audio=self.audio[list(indices)],
            labels=self.labels[list(indices)],
            segments=tuple(self.segments[i] for i in indices),
            voices=tuple(self.voices[i] for i in indices),
            backgrounds=tuple(self.backgrounds[i] for i in indices),
        )

    @property
    def hours(self) -> float:
        return self.audio.size / SAMPLE_RATE / 3600

    @property
    def trigger_count(self) -> int:
        return sum(s.trigger for clip in self.segments for s in clip)


def spectrogram_frames(samples: int, frame_length: int = 256, frame_step: int = 160) -> int:
    """Frames tf.signal.stft makes of `samples` samples without padding: 1 + (samples - length) // step."""
    return 1 + (samples - frame_length) // frame_step


def output_steps(frames: int, kernel: int = 15, stride: int = 4) -> int:
    """T_y: outputs of a Conv1D with no padding over `frames` steps: (frames - kernel) // stride + 1."""
    return (frames - kernel) // stride + 1


def end_step(end_sample: int, clip_samples: int, steps: int) -> int:
    """The output step where a word ending at `end_sample` ends: floor(end * T_y / samples), the course's."""
    return end_sample * steps // clip_samples


def trigger_labels(ends: Sequence[int], clip_samples: int, steps: int, label_steps: int) -> np.ndarray:
    """float32 [T_y]: 1 at steps end_step+1 .. end_step+M of each trigger ending at a sample in `ends`."""
    labels = np.zeros(steps, np.float32)
    for end in ends:
        first = end_step(end, clip_samples, steps) + 1
        labels[first : first + label_steps] = 1.0
    return labels


def place_segments(
    lengths: Sequence[int], clip_samples: int, gap: int, tail: int, rng: np.random.Generator, tries: int = 50
) -> list[int | None]:
    """Random non-overlapping starts for words of `lengths` samples, the course's way (draw, retry).

    Each word must end `tail` samples before the clip does and keep `gap`
    samples from every word placed before it; a word that finds no place in
    `tries` draws is left out (None).
    """
    placed: list[tuple[int, int]] = []
    starts: list[int | None] = []
    for length in lengths:
        start = None
        latest = clip_samples - tail - length
        for _ in range(tries if latest >= 0 else 0):
            candidate = int(rng.integers(0, latest + 1))
            if all(candidate + length + gap <= s or candidate >= e + gap for s, e in placed):
                start = candidate
                placed.append((candidate, candidate + length))
                break
        starts.append(start)
    return starts


def _coloured_noise(samples: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Noise whose power falls as 1/f^exponent (1: pink, 2: brown), unit RMS."""
    spectrum = rng.standard_normal(samples // 2 + 1) + 1j * rng.standard_normal(samples // 2 + 1)
    frequencies = np.fft.rfftfreq(samples, 1 / SAMPLE_RATE)
    spectrum *= 1.0 / np.maximum(frequencies, 20.0) ** (exponent / 2)
    noise = np.fft.irfft(spectrum, samples)
    return noise / (np.std(noise) + 1e-12)


def background(kind: str, samples: int, rng: np.random.Generator, babble: Sequence[np.ndarray]) -> np.ndarray:
    """A background of unit RMS: "pink", "brown", "hum" or "babble" (the given words, overlapped)."""
    if kind == "pink":
        return _coloured_noise(samples, 1.0, rng)
    if kind == "brown":
        return _coloured_noise(samples, 2.0, rng)
    if kind == "hum":
        t = np.arange(samples) / SAMPLE_RATE
        mains = rng.choice([50.0, 60.0])
        hum = sum(
            rng.uniform(0.2, 1.0) / h * np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 2 * np.pi))
            for h in range(1, 6)
        )
        noise = hum + 0.05 * rng.standard_normal(samples)
        return noise / np.std(noise)
    if kind == "babble":
        if not babble:
            raise ValueError("babble needs words to overlap. Received none")
        noise = np.zeros(samples)
        for _ in range(int(samples / SAMPLE_RATE * 8)):  # about 8 words a second, several voices at once
            word = babble[int(rng.integers(len(babble)))]
            start = int(rng.integers(-len(word) + 1, samples))
            lo, hi = max(start, 0), min(start + len(word), samples)
            noise[lo:hi] += word[lo - start : hi - start] * rng.uniform(0.3, 1.0)
        return noise / (np.std(noise) + 1e-12)
    raise ValueError(f"Unknown background. Expected one of {BACKGROUNDS}. Received: {kind!r}")


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0


def make_clips(
    split: str,
    count: int,
    synthesizer: Synthesizer,
    words: Sequence[str],
    config: ClipConfig = ClipConfig(),
    seed: int = 0,
    voices: Sequence[Voice] | None = None,
    trigger: str = TRIGGER,
) -> TriggerClips:
    """`count` clips of `split` ("train", "train_dev", "dev" or "test"), deterministic by `seed`.

    Each clip: one voice of the split says 0-3 triggers and 0-3 other words
    (`config`) at random non-overlapping places, over one background at a
    signal-to-noise ratio drawn from `config.snr_db`; the loudest clip peak
    is scaled to at most 0.9 of full scale.
    """
    if split not in _SPLIT_CODES:
        raise ValueError(f"Unknown split. Expected one of {SPLITS}. Received: {split!r}")
    voices = tuple(voices or voice_splits()[split])
    words = [w for w in words if w != trigger]
    rngs = [np.random.default_rng((seed, _SPLIT_CODES[split], i)) for i in range(count)]
    plans = []
    for rng in rngs:
        voice = voices[int(rng.integers(len(voices)))]
        n_triggers = int(rng.integers(config.triggers[0], config.triggers[1] + 1))
        n_negatives = int(rng.integers(config.negatives[0], config.negatives[1] + 1))
        chosen = [words[int(i)] for i in rng.integers(len(words), size=n_negatives)]
        said = [trigger] * n_triggers + chosen
        said = [said[i] for i in rng.permutation(len(said))]
        kind = BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]
        babblers = [voices[int(i)] for i in rng.integers(len(voices), size=4)] if kind == "babble" else []
        babble_words = [(v, words[int(i)]) for v in babblers for i in rng.integers(len(words), size=3)]
        plans.append((voice, said, kind, babble_words))
    synthesizer.prepare(
        [(voice, word) for voice, said, _, babble in plans for word in said]
        + [p for *_, b in plans for p in b]
    )

    samples, steps = config.samples, config.output_steps
    tail = int(np.ceil((config.label_steps + 1) * samples / steps))  # a trigger's label window fits the clip
    gap = int(config.gap_seconds * SAMPLE_RATE)
    audio = np.zeros((count, samples), np.int16)
    labels = np.zeros((count, steps), np.float32)
    all_segments = []
    for i, (rng, (voice, said, kind, babble_words)) in enumerate(zip(rngs, plans, strict=True)):
        utterances = [synthesizer.say(voice, word) for word in said]
        starts = place_segments([len(u) for u in utterances], samples, gap, tail, rng)
        speech = np.zeros(samples)
        segments = []
        for word, utterance, start in zip(said, utterances, starts, strict=True):
            if start is None:
                continue
            speech[start : start + len(utterance)] += utterance * rng.uniform(0.5, 1.0)
            segments.append(Segment(word, start, start + len(utterance), word == trigger))
        segments.sort(key=lambda s: s.start)
        noise = background(kind, samples, rng, [synthesizer.say(v, w) for v, w in babble_words])
        voiced = np.concatenate([speech[s.start : s.end] for s in segments]) if segments else np.zeros(0)
        speech_rms = _rms(voiced) or 0.1  # a clip without words: the background alone, at a typical level
        snr_db = rng.uniform(*config.snr_db)
        clip = speech + noise * speech_rms / 10 ** (snr_db / 20)
        clip *= min(1.0, 0.9 / (np.max(np.abs(clip)) + 1e-12)) * rng.uniform(0.3, 1.0)
        audio[i] = np.round(clip * 32767).astype(np.int16)
        labels[i] = trigger_labels([s.end for s in segments if s.trigger], samples, steps, config.label_steps)
        all_segments.append(tuple(segments))
    return TriggerClips(
        audio=audio,
        labels=labels,
        segments=tuple(all_segments),
        voices=tuple(plan[0].name for plan in plans),
        backgrounds=tuple(plan[2] for plan in plans),
    )


# --------------------------------------------------------------------------- features


def log_spectrogram(
    audio: tf.Tensor, frame_length: int = 256, frame_step: int = 160, fft_length: int = 256
) -> tf.Tensor:
    """log(|STFT| + 1e-6) of int16 or float audio [..., samples]: float32 [..., frames, fft_length // 2 + 1].

    Frames of `frame_length` samples every `frame_step` samples, Hann window,
    no padding (`spectrogram_frames` gives their number).
    """
    audio = tf.convert_to_tensor(audio)
    if audio.dtype == tf.int16:
        audio = tf.cast(audio, tf.float32) / 32768.0
    stft = tf.signal.stft(audio, frame_length, frame_step, fft_length, window_fn=tf.signal.hann_window)
    return tf.math.log(tf.abs(stft) + 1e-6)


def clip_dataset(
    clips: TriggerClips, batch_size: int, shuffle_seed: int | None = None, **stft
) -> tf.data.Dataset:
    """(log spectrogram, labels [T_y, 1]) batches; the spectrogram is computed per batch from the audio."""
    dataset = tf.data.Dataset.from_tensor_slices((clips.audio, clips.labels[..., None]))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(clips), seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    dataset = dataset.map(lambda a, y: (log_spectrogram(a, **stft), y), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
