"""A synthetic four-class speech emotion corpus made with espeak-ng.

The repository ships the output of this module under `data/demo/` so that the
whole system can be exercised without IEMOCAP and without espeak-ng. The corpus
is built so that the task needs both modalities:

- every emotion has a prosody profile (espeak-ng pitch, speed and amplitude),
  with overlapping distributions, per-voice offsets, per-clip jitter and
  additive background noise, so that the audio alone is informative but not
  sufficient;
- every sentence is one of four kinds: words that carry the emotion of the
  voice (`"emotional"`), emotionally neutral words where only the voice tells
  (`"neutral"`), words that suggest another emotion than the voice
  (`"misleading"`), and sentences that name two emotions, a past one and the
  voice's present one, in either order (`"contrast"`), so that the text alone
  is informative but not sufficient;
- the contrast sentences need word order: the same words in another order mean
  the other emotion, so a bag of words cannot tell the two apart (a logistic
  regression on mean-pooled frozen MiniLM features scores about 0.5 on them
  from layer 1 and about 0.9 from layers 4 to 6, though the fusion head's own
  attention layers also learn the order from the training clips);
- voices are disjoint between the train, validation and test splits.

Every clip is drawn from its own random generator, seeded by the corpus seed and
the clip's position, so running the generator again recreates the same files.

Example:

>>> from tools.demo_corpus import DemoCorpusConfig, generate_demo_corpus
>>> manifest_path = generate_demo_corpus("data/demo", DemoCorpusConfig())  # doctest: +SKIP
>>> manifest_path.name  # doctest: +SKIP
'manifest.csv'
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile
import soxr

from ser_keras.audio.params import SAMPLE_RATE
from ser_keras.labels import DEFAULT_LABELS

logger = logging.getLogger(__name__)

#: Columns of the written manifest (the generic manifest format of `ser_keras.data`).
MANIFEST_COLUMNS: tuple[str, ...] = ("path", "text", "label", "speaker", "split", "utterance_id")

#: The four sentence kinds, in the order of `DemoCorpusConfig.text_kind_weights`.
TEXT_KINDS: tuple[str, ...] = ("emotional", "neutral", "misleading", "contrast")

#: Peak gain applied to espeak-ng output so that its loudest setting does not clip.
_HEADROOM_GAIN = 0.6

#: How often a clip's sentence is redrawn before giving up on fitting the duration range.
_MAX_SENTENCE_DRAWS = 20


class EspeakNotFoundError(RuntimeError):
    """Raised when the espeak-ng program is needed but not installed.

    Example:

    >>> str(EspeakNotFoundError("espeak-ng")).startswith("espeak-ng")
    True
    """


@dataclasses.dataclass(frozen=True)
class ProsodyProfile:
    """Normal distributions of the espeak-ng settings for one emotion.

    Args:
        pitch: mean and standard deviation of the pitch setting (`-p`, 0 to 99).
        speed: mean and standard deviation of the speed (`-s`, words per minute).
        amplitude: mean and standard deviation of the amplitude (`-a`, 0 to 200).

    Example:

    >>> profile = ProsodyProfile(pitch=(50, 8), speed=(160, 15), amplitude=(100, 15))
    >>> profile.speed[0]
    160
    """

    pitch: tuple[float, float]
    speed: tuple[float, float]
    amplitude: tuple[float, float]


@dataclasses.dataclass(frozen=True)
class DemoVoice:
    """One espeak-ng voice, playing the role of one speaker.

    Args:
        espeak_voice: the `-v` argument, a language with an optional `+variant`.
        split: the split all clips of this voice belong to.
        pitch_offset: added to every pitch setting of this voice.
        speed_scale: multiplies every speed setting of this voice.

    Example:

    >>> voice = DemoVoice("en-gb+f1", "train", pitch_offset=4.0, speed_scale=0.95)
    >>> voice.speaker_id
    'en-gb_f1'
    """

    espeak_voice: str
    split: str
    pitch_offset: float = 0.0
    speed_scale: float = 1.0

    @property
    def speaker_id(self) -> str:
        """The voice name as a file-name-safe speaker identifier."""
        return self.espeak_voice.replace("+", "_")


#: Prosody of each emotion. Neighbouring classes overlap on every axis.
EMOTION_PROSODY: dict[str, ProsodyProfile] = {
    "angry": ProsodyProfile(pitch=(56, 10), speed=(195, 20), amplitude=(150, 22)),
    "happy": ProsodyProfile(pitch=(72, 10), speed=(180, 20), amplitude=(120, 22)),
    "sad": ProsodyProfile(pitch=(32, 10), speed=(130, 16), amplitude=(72, 18)),
    "neutral": ProsodyProfile(pitch=(48, 10), speed=(160, 16), amplitude=(100, 18)),
}

#: Twelve voices: eight for training, two for validation, two for testing.
DEMO_VOICES: tuple[DemoVoice, ...] = (
    DemoVoice("en-us+m1", "train", pitch_offset=-4.0, speed_scale=1.00),
    DemoVoice("en-gb+f1", "train", pitch_offset=3.0, speed_scale=0.96),
    DemoVoice("en-gb-scotland+m3", "train", pitch_offset=6.0, speed_scale=1.04),
    DemoVoice("en-gb-x-rp+f2", "train", pitch_offset=-6.0, speed_scale=1.02),
    DemoVoice("en-029+m2", "train", pitch_offset=0.0, speed_scale=0.94),
    DemoVoice("en-us-nyc+f4", "train", pitch_offset=5.0, speed_scale=1.06),
    DemoVoice("en-gb-x-gbclan+m4", "train", pitch_offset=-2.0, speed_scale=0.98),
    DemoVoice("en-gb+m7", "train", pitch_offset=8.0, speed_scale=1.00),
    DemoVoice("en-gb-x-gbcwmd+f3", "validation", pitch_offset=-3.0, speed_scale=1.03),
    DemoVoice("en-us+m5", "validation", pitch_offset=4.0, speed_scale=0.97),
    DemoVoice("en-gb-scotland+f5", "test", pitch_offset=2.0, speed_scale=1.01),
    DemoVoice("en-gb-x-rp+m6", "test", pitch_offset=-5.0, speed_scale=0.99),
)

#: Things a sentence can be about; none of them carries an emotion.
TOPICS: tuple[str, ...] = (
    "the meeting",
    "the report",
    "the train",
    "the letter",
    "the garden",
    "the budget",
    "the weekend",
    "the new job",
    "the neighbours",
    "the test results",
    "the phone call",
    "the trip",
    "the dinner",
    "the old house",
    "the interview",
    "the parcel",
)

#: Sentence templates whose words carry one emotion; `{topic}` is filled from `TOPICS`.
EMOTION_TEMPLATES: dict[str, tuple[str, ...]] = {
    "angry": (
        "I am furious about {topic}.",
        "Honestly, {topic} is unacceptable!",
        "I hate what they did with {topic}.",
        "Stop lying to me about {topic}!",
        "This is outrageous, {topic} again?",
        "I am sick and tired of {topic}.",
        "How dare you ruin {topic}!",
        "{topic} makes me so angry.",
    ),
    "happy": (
        "I am so happy about {topic}!",
        "Honestly, {topic} was wonderful.",
        "I love how {topic} turned out.",
        "What fantastic news about {topic}!",
        "We are thrilled with {topic}.",
        "{topic} made my whole day.",
        "I am delighted, {topic} went great.",
        "Let us celebrate {topic} tonight!",
    ),
    "sad": (
        "I feel so sad about {topic}.",
        "Honestly, {topic} broke my heart.",
        "I miss how {topic} used to be.",
        "I cried all night over {topic}.",
        "We lost everything with {topic}.",
        "{topic} makes me feel so lonely.",
        "I am sorry, {topic} is gone forever.",
        "It hurts to think about {topic}.",
    ),
    "neutral": (
        "I feel fine about {topic}.",
        "Honestly, {topic} was quite ordinary.",
        "I have no opinion on {topic}.",
        "{topic} is just the usual routine.",
        "I am calm about {topic}, it is normal.",
        "Whatever happens with {topic} is okay.",
        "{topic} was neither good nor bad.",
        "I do not mind {topic} either way.",
    ),
}

#: Words for a feeling, per emotion; contrast sentences draw one for each of their two emotions.
FEELING_WORDS: dict[str, tuple[str, ...]] = {
    "angry": ("furious", "angry", "outraged", "livid"),
    "happy": ("happy", "delighted", "thrilled", "overjoyed"),
    "sad": ("sad", "heartbroken", "miserable", "gloomy"),
    "neutral": ("calm", "indifferent", "relaxed", "unbothered"),
}

#: Sentences naming a past feeling (`{before}`) and the present one (`{now}`, the label), in
#: both orders, so that only the sentence's structure tells which is which.
CONTRAST_TEMPLATES: tuple[str, ...] = (
    "At first {topic} made me {before}, but now I am {now}.",
    "I am {now} now, although {topic} first made me {before}.",
    "I used to be {before} about {topic}; today I am {now}.",
    "Today I feel {now} about {topic}, not {before} like before.",
    "{topic} once left me {before}, yet now I feel {now}.",
    "I am no longer {before} about {topic}, I am {now}.",
)

#: Templates with emotionally neutral words only; the same for every class.
NEUTRAL_TEMPLATES: tuple[str, ...] = (
    "{topic} is on Tuesday at ten.",
    "Please put {topic} on the list.",
    "We talked about {topic} this morning.",
    "{topic} is in the second folder.",
    "They moved {topic} to next week.",
    "I read about {topic} in the paper.",
    "{topic} starts after lunch.",
    "Can you check {topic} for me?",
    "My sister asked about {topic}.",
    "{topic} is next to the window.",
)


@dataclasses.dataclass(frozen=True)
class DemoCorpusConfig:
    """Settings of the demo corpus generator.

    Args:
        seed: the corpus seed; together with the other settings it fixes every file.
        clips_per_voice: clips per voice, split evenly between the labels (must be a
            multiple of the number of labels).
        labels: the emotion classes; each needs an entry in `EMOTION_PROSODY`,
            `EMOTION_TEMPLATES` and `FEELING_WORDS`.
        voices: the voices (speakers) and their splits.
        text_kind_weights: probabilities of an emotional, a neutral, a misleading and
            a contrast sentence (see `TEXT_KINDS`).
        min_seconds: shortest clip; shorter syntheses are padded with background noise.
        max_seconds: longest clip; longer syntheses are redrawn with another sentence.
        noise_dbfs: range of the background noise level (RMS in dB relative to full
            scale), drawn uniformly per clip, independently of the emotion.
        jitter_scale: multiplies the standard deviations of the prosody profiles.
        resolution_bits: amplitude resolution of the stored samples. Files are 16-bit
            FLAC, but only the top `resolution_bits` bits are used, which FLAC stores
            compactly; 9 bits keep the shipped corpus under 20 MB with a quantization
            noise (about -59 dBFS) comparable to the background noise.

    Example:

    >>> config = DemoCorpusConfig(clips_per_voice=8)
    >>> config.clips_per_voice * len(config.voices)
    96
    """

    seed: int = 0
    clips_per_voice: int = 72
    labels: tuple[str, ...] = DEFAULT_LABELS
    voices: tuple[DemoVoice, ...] = DEMO_VOICES
    text_kind_weights: tuple[float, float, float, float] = (0.20, 0.20, 0.20, 0.40)
    min_seconds: float = 1.0
    max_seconds: float = 5.0
    noise_dbfs: tuple[float, float] = (-60.0, -45.0)
    jitter_scale: float = 1.0
    resolution_bits: int = 9

    def __post_init__(self) -> None:
        if self.clips_per_voice <= 0 or self.clips_per_voice % len(self.labels):
            raise ValueError(
                f"clips_per_voice={self.clips_per_voice} must be a positive multiple of "
                f"the number of labels ({len(self.labels)}) so that classes are balanced."
            )
        if len(set(self.labels)) < 2 or len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels={self.labels} must be at least two distinct emotions.")
        unknown = sorted(set(self.labels) - (set(EMOTION_PROSODY) & set(EMOTION_TEMPLATES) & set(FEELING_WORDS)))
        if unknown:
            raise ValueError(
                f"labels {unknown} have no prosody profile, sentence templates or feeling words; "
                f"use labels from {sorted(EMOTION_PROSODY)}."
            )
        if not 2 <= self.resolution_bits <= 16:
            raise ValueError(f"resolution_bits={self.resolution_bits} must be between 2 and 16.")
        if len(self.text_kind_weights) != len(TEXT_KINDS) or abs(sum(self.text_kind_weights) - 1) > 1e-6:
            raise ValueError(
                f"text_kind_weights={self.text_kind_weights} must be {len(TEXT_KINDS)} probabilities "
                f"(for {TEXT_KINDS}) that sum to 1."
            )


@dataclasses.dataclass(frozen=True)
class DemoClip:
    """One generated clip: its text, label, voice and espeak-ng settings.

    Args:
        utterance_id: the clip's identifier and file stem.
        label: the emotion of the voice.
        text_kind: one of `TEXT_KINDS`.
        text: the spoken sentence.
        voice: the speaker.
        pitch: espeak-ng pitch (`-p`).
        speed: espeak-ng speed (`-s`, words per minute).
        amplitude: espeak-ng amplitude (`-a`).

    Example:

    >>> clip = DemoClip("en-gb_f1_000", "angry", "emotional", "I am furious about the train.",
    ...                 DemoVoice("en-gb+f1", "train"), pitch=60, speed=190, amplitude=140)
    >>> clip.espeak_arguments()[:2]
    ['-v', 'en-gb+f1']
    """

    utterance_id: str
    label: str
    text_kind: str
    text: str
    voice: DemoVoice
    pitch: int
    speed: int
    amplitude: int

    def espeak_arguments(self) -> list[str]:
        """The espeak-ng options that select this clip's voice and prosody."""
        return [
            "-v", self.voice.espeak_voice,
            "-p", str(self.pitch),
            "-s", str(self.speed),
            "-a", str(self.amplitude),
        ]


def find_espeak() -> str:
    """Returns the path of the espeak-ng program.

    Raises:
        EspeakNotFoundError: espeak-ng is not on the PATH.

    Example:

    >>> find_espeak()  # doctest: +SKIP
    '/usr/bin/espeak-ng'
    """
    path = shutil.which("espeak-ng")
    if path is None:
        raise EspeakNotFoundError(
            "espeak-ng is not installed; it is only needed to regenerate the demo corpus "
            "(Debian/Ubuntu: `apt-get install espeak-ng`). The committed data/demo/ works without it."
        )
    return path


def draw_sentence(label: str, text_kind: str, labels: Sequence[str], rng: np.random.Generator) -> str:
    """Draws a sentence of the given kind for a clip spoken with emotion `label`.

    Args:
        label: the emotion of the voice.
        text_kind: one of `TEXT_KINDS`.
        labels: the label set; misleading sentences use one of the other labels, and
            contrast sentences name one of them as the past feeling.
        rng: the random generator to draw from.

    Example:

    >>> import numpy as np
    >>> draw_sentence("sad", "neutral", ("angry", "sad"), np.random.default_rng(0))
    'My sister asked about the phone call.'
    """
    other_labels = [other for other in labels if other != label]
    if text_kind == "contrast":
        before = other_labels[rng.integers(len(other_labels))]
        template = CONTRAST_TEMPLATES[rng.integers(len(CONTRAST_TEMPLATES))]
        sentence = template.format(
            topic=TOPICS[rng.integers(len(TOPICS))],
            before=FEELING_WORDS[before][rng.integers(len(FEELING_WORDS[before]))],
            now=FEELING_WORDS[label][rng.integers(len(FEELING_WORDS[label]))],
        )
    else:
        if text_kind == "emotional":
            templates = EMOTION_TEMPLATES[label]
        elif text_kind == "neutral":
            templates = NEUTRAL_TEMPLATES
        elif text_kind == "misleading":
            templates = EMOTION_TEMPLATES[other_labels[rng.integers(len(other_labels))]]
        else:
            raise ValueError(f"text_kind={text_kind!r} is not one of {TEXT_KINDS}.")
        template = templates[rng.integers(len(templates))]
        sentence = template.format(topic=TOPICS[rng.integers(len(TOPICS))])
    return sentence[0].upper() + sentence[1:]


def draw_clip(
    utterance_id: str, label: str, voice: DemoVoice, config: DemoCorpusConfig, rng: np.random.Generator
) -> DemoClip:
    """Draws the text kind, the sentence and the jittered prosody of one clip.

    Args:
        utterance_id: the clip's identifier and file stem.
        label: the emotion of the voice; selects the prosody profile.
        voice: the speaker; shifts the pitch and scales the speed.
        config: generator settings (text kind weights, jitter scale, labels).
        rng: the clip's random generator.

    Example:

    >>> import numpy as np
    >>> clip = draw_clip("x_000", "sad", DEMO_VOICES[0], DemoCorpusConfig(), np.random.default_rng(0))
    >>> clip.label, clip.voice.espeak_voice
    ('sad', 'en-us+m1')
    """
    text_kind = TEXT_KINDS[rng.choice(len(TEXT_KINDS), p=config.text_kind_weights)]
    profile = EMOTION_PROSODY[label]

    def jittered(mean_and_std: tuple[float, float]) -> float:
        mean, std = mean_and_std
        return rng.normal(mean, std * config.jitter_scale)

    pitch = jittered(profile.pitch) + voice.pitch_offset
    speed = jittered(profile.speed) * voice.speed_scale
    amplitude = jittered(profile.amplitude)
    return DemoClip(
        utterance_id=utterance_id,
        label=label,
        text_kind=text_kind,
        text=draw_sentence(label, text_kind, config.labels, rng),
        voice=voice,
        pitch=int(np.clip(round(pitch), 0, 99)),
        speed=int(np.clip(round(speed), 90, 300)),
        amplitude=int(np.clip(round(amplitude), 20, 200)),
    )


def synthesize(clip: DemoClip, espeak: str) -> np.ndarray:
    """Speaks a clip with espeak-ng and returns it as float32 mono at 16 kHz.

    Args:
        clip: what to say and how.
        espeak: the espeak-ng program (see `find_espeak`).

    Example:

    >>> clip = draw_clip("x_000", "sad", DEMO_VOICES[0], DemoCorpusConfig(), np.random.default_rng(0))
    >>> synthesize(clip, find_espeak()).dtype  # doctest: +SKIP
    dtype('float32')
    """
    with tempfile.TemporaryDirectory() as temp_dir:
        wav_path = Path(temp_dir) / "speech.wav"
        command = [espeak, *clip.espeak_arguments(), "-w", str(wav_path), "--", clip.text]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(
                f"espeak-ng failed on clip {clip.utterance_id} (exit {result.returncode}): "
                f"{result.stderr.strip()}"
            )
        waveform, sample_rate = soundfile.read(wav_path, dtype="float32", always_2d=True)
    waveform = waveform.mean(axis=1)
    if sample_rate != SAMPLE_RATE:
        waveform = soxr.resample(waveform, sample_rate, SAMPLE_RATE, quality="HQ")
    return (waveform * _HEADROOM_GAIN).astype(np.float32)


def add_background_noise(
    speech: np.ndarray, config: DemoCorpusConfig, rng: np.random.Generator
) -> np.ndarray:
    """Pads speech to the minimum length and adds white noise at a random level.

    Args:
        speech: float32 waveform at 16 kHz.
        config: generator settings (`min_seconds`, `noise_dbfs`).
        rng: the clip's random generator.

    Example:

    >>> noisy = add_background_noise(np.zeros(100, np.float32), DemoCorpusConfig(),
    ...                              np.random.default_rng(0))
    >>> noisy.shape
    (16000,)
    """
    min_samples = int(round(config.min_seconds * SAMPLE_RATE))
    padding = max(min_samples - speech.shape[0], 0)
    lead = padding // 2
    padded = np.pad(speech, (lead, padding - lead))
    noise_rms = 10.0 ** (rng.uniform(*config.noise_dbfs) / 20.0)
    noisy = padded + rng.normal(0.0, noise_rms, size=padded.shape)
    return np.clip(noisy, -1.0, 1.0).astype(np.float32)


def to_pcm16(waveform: np.ndarray, resolution_bits: int) -> np.ndarray:
    """Rounds a float waveform in [-1, 1] to int16 samples with `resolution_bits` of resolution.

    The lowest `16 - resolution_bits` bits of every sample are zero; values outside
    [-1, 1) are clipped.

    Example:

    >>> to_pcm16(np.array([0.5, -1.0, 0.999], np.float32), resolution_bits=9).tolist()
    [16384, -32768, 32640]
    """
    levels = 2 ** (resolution_bits - 1)
    steps = np.clip(np.round(waveform.astype(np.float64) * levels), -levels, levels - 1)
    return (steps * 2 ** (16 - resolution_bits)).astype(np.int16)


@dataclasses.dataclass(frozen=True)
class ClipPlan:
    """What is fixed about a clip before synthesis: its identity, emotion, voice and seed.

    Example:

    >>> plan = plan_demo_corpus(DemoCorpusConfig())[0]
    >>> plan.utterance_id, plan.seed
    ('en-us_m1_000', (0, 0, 0))
    """

    utterance_id: str
    label: str
    voice: DemoVoice
    seed: tuple[int, ...]


def plan_demo_corpus(config: DemoCorpusConfig) -> list[ClipPlan]:
    """Plans every clip of the corpus: a shuffled, balanced label sequence per voice.

    Each clip gets the seed `(config.seed, voice_index, clip_index)` for its own random
    generator, so any clip can be recreated on its own.

    Example:

    >>> plans = plan_demo_corpus(DemoCorpusConfig(clips_per_voice=4))
    >>> len(plans), sorted(plan.label for plan in plans[:4])
    (48, ['angry', 'happy', 'neutral', 'sad'])
    """
    plans = []
    for voice_index, voice in enumerate(config.voices):
        labels = list(config.labels) * (config.clips_per_voice // len(config.labels))
        order = np.random.default_rng([config.seed, voice_index]).permutation(len(labels))
        for clip_index, label_index in enumerate(order):
            plans.append(
                ClipPlan(
                    utterance_id=f"{voice.speaker_id}_{clip_index:03d}",
                    label=labels[label_index],
                    voice=voice,
                    seed=(config.seed, voice_index, clip_index),
                )
            )
    return plans


def render_clip(plan: ClipPlan, config: DemoCorpusConfig, espeak: str) -> tuple[DemoClip, np.ndarray]:
    """Draws and synthesizes one clip, redrawing the sentence until it fits the duration range.

    Args:
        plan: the clip's identity, emotion, voice and seed.
        config: generator settings.
        espeak: the espeak-ng program (see `find_espeak`).

    Returns:
        The clip description and its noisy 16 kHz float32 waveform.

    Example:

    >>> config = DemoCorpusConfig()
    >>> clip, waveform = render_clip(plan_demo_corpus(config)[0], config, find_espeak())  # doctest: +SKIP
    """
    rng = np.random.default_rng(list(plan.seed))
    max_samples = int(config.max_seconds * SAMPLE_RATE)
    for _ in range(_MAX_SENTENCE_DRAWS):
        clip = draw_clip(plan.utterance_id, plan.label, plan.voice, config, rng)
        speech = synthesize(clip, espeak)
        if speech.shape[0] <= max_samples:
            return clip, add_background_noise(speech, config, rng)
    raise RuntimeError(
        f"clip {plan.utterance_id}: no sentence fits in {config.max_seconds} s after "
        f"{_MAX_SENTENCE_DRAWS} draws; raise max_seconds or shorten the sentence templates."
    )


def generate_demo_corpus(
    output_dir: str | Path, config: DemoCorpusConfig | None = None, num_workers: int = 1
) -> Path:
    """Writes the demo corpus: `audio/<utterance_id>.flac`, `manifest.csv` and `README.md`.

    The FLAC files are 16-bit (see `DemoCorpusConfig.resolution_bits`), 16 kHz mono.
    Existing `.flac` files in `output_dir/audio` are removed first so that the folder
    holds exactly one corpus.

    Args:
        output_dir: the corpus folder (created if missing).
        config: generator settings; defaults to `DemoCorpusConfig()`, the shipped corpus.
        num_workers: espeak-ng processes to run in parallel; the output does not depend on it.

    Returns:
        The path of the written manifest.

    Example:

    >>> generate_demo_corpus("/tmp/demo", DemoCorpusConfig(clips_per_voice=4))  # doctest: +SKIP
    PosixPath('/tmp/demo/manifest.csv')
    """
    config = config or DemoCorpusConfig()
    espeak = find_espeak()
    output_dir = Path(output_dir)
    audio_dir = output_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    for stale in audio_dir.glob("*.flac"):
        stale.unlink()

    def render_and_write(plan: ClipPlan) -> DemoClip:
        clip, waveform = render_clip(plan, config, espeak)
        samples = to_pcm16(waveform, config.resolution_bits)
        soundfile.write(audio_dir / f"{clip.utterance_id}.flac", samples, SAMPLE_RATE, subtype="PCM_16")
        return clip

    plans = plan_demo_corpus(config)
    logger.info("Synthesizing %d demo clips with %s into %s", len(plans), espeak, audio_dir)
    with ThreadPoolExecutor(max_workers=max(num_workers, 1)) as pool:
        clips = list(pool.map(render_and_write, plans))

    manifest_path = write_manifest(output_dir, clips)
    readme_path = output_dir / "README.md"
    readme_path.write_text(describe_demo_corpus(clips, config, espeak_version(espeak)), encoding="utf-8")
    logger.info("Wrote %d clips, %s and %s", len(clips), manifest_path, readme_path)
    return manifest_path


def write_manifest(output_dir: Path, clips: Sequence[DemoClip]) -> Path:
    """Writes `manifest.csv` (columns `MANIFEST_COLUMNS`, paths relative to it) for the clips.

    Example:

    >>> write_manifest(Path("/tmp/demo"), [])  # doctest: +SKIP
    PosixPath('/tmp/demo/manifest.csv')
    """
    manifest_path = output_dir / "manifest.csv"
    with manifest_path.open("w", newline="", encoding="utf-8") as manifest_file:
        writer = csv.writer(manifest_file, lineterminator="\n")
        writer.writerow(MANIFEST_COLUMNS)
        for clip in clips:
            writer.writerow(
                [f"audio/{clip.utterance_id}.flac", clip.text, clip.label,
                 clip.voice.speaker_id, clip.voice.split, clip.utterance_id]
            )
    return manifest_path


def espeak_version(espeak: str) -> str:
    """The version line of `espeak-ng --version` (without its data path), recorded in the README.

    Example:

    >>> espeak_version(find_espeak())  # doctest: +SKIP
    'eSpeak NG text-to-speech: 1.51'
    """
    result = subprocess.run([espeak, "--version"], capture_output=True, text=True, check=True)
    first_line = result.stdout.strip().splitlines()[0]
    return first_line.split("Data at:")[0].strip()


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _count_table(clips: Sequence[DemoClip], row_key: str, row_values: Sequence[str], splits: Sequence[str]) -> str:
    rows = []
    for value in row_values:
        counts = [sum(1 for c in clips if getattr(c, row_key) == value and c.voice.split == split) for split in splits]
        rows.append([value, *counts, sum(counts)])
    totals = [sum(1 for c in clips if c.voice.split == split) for split in splits]
    rows.append(["total", *totals, sum(totals)])
    return _markdown_table([row_key.replace("_", " "), *splits, "total"], rows)


def describe_demo_corpus(clips: Sequence[DemoClip], config: DemoCorpusConfig, espeak_version_line: str) -> str:
    """The corpus README: what it is, how it was made, and its class, voice and split tables.

    Example:

    >>> describe_demo_corpus([], DemoCorpusConfig(), "eSpeak NG 1.51").startswith("# Demo corpus")
    True
    """
    splits = list(dict.fromkeys(voice.split for voice in config.voices))
    prosody_rows = []
    for label in config.labels:
        profile = EMOTION_PROSODY[label]
        distributions = (profile.pitch, profile.speed, profile.amplitude)
        prosody_rows.append([label, *(f"{mean:g} ± {std * config.jitter_scale:g}" for mean, std in distributions)])
    voice_rows = [
        [f"`{voice.espeak_voice}`", voice.speaker_id, voice.split, f"{voice.pitch_offset:+g}",
         f"{voice.speed_scale:g}", sum(1 for c in clips if c.voice == voice)]
        for voice in config.voices
    ]
    weights = ", ".join(f"{kind} {weight:.0%}" for kind, weight in zip(TEXT_KINDS, config.text_kind_weights))
    return _README_TEMPLATE.format(
        num_clips=len(clips),
        num_voices=len(config.voices),
        espeak_version=espeak_version_line,
        seed=config.seed,
        clips_per_voice=config.clips_per_voice,
        min_seconds=config.min_seconds,
        max_seconds=config.max_seconds,
        noise_low=config.noise_dbfs[0],
        noise_high=config.noise_dbfs[1],
        resolution_bits=config.resolution_bits,
        weights=weights,
        label_table=_count_table(clips, "label", config.labels, splits),
        kind_table=_count_table(clips, "text_kind", TEXT_KINDS, splits),
        voice_table=_markdown_table(
            ["espeak-ng voice", "speaker", "split", "pitch offset", "speed scale", "clips"], voice_rows
        ),
        prosody_table=_markdown_table(["emotion", "pitch (`-p`)", "speed (`-s`, wpm)", "amplitude (`-a`)"],
                                      prosody_rows),
    )


_README_TEMPLATE = """# Demo corpus (synthetic)

{num_clips} short English clips spoken by {num_voices} espeak-ng voices, labelled with four
emotions. **The corpus is synthetic.** It exists so that the whole system (data pipeline,
teacher, distillation, reports) can be run and tested without IEMOCAP. It is not a measure
of real emotion recognition: the "emotions" are nothing but the prosody settings and sentence
templates described below, and accuracy on it says nothing about real speech.

It is the default dataset of `make demo`. You do not need espeak-ng to use it.

## Files

- `manifest.csv`: the generic manifest format, columns `path,text,label,speaker,split,utterance_id`;
  `path` is relative to this folder; `speaker` is the voice; `split` is `train`, `validation`
  or `test`; `utterance_id` is the file stem.
- `audio/*.flac`: 16 kHz mono 16-bit FLAC, {min_seconds:g} to {max_seconds:g} s each. To keep the
  folder small, samples use only {resolution_bits} bits of amplitude resolution (the low bits are
  zero), which FLAC stores compactly.

## How it was made

```
apt-get install espeak-ng   # {espeak_version}
python training_scripts/make_demo_corpus.py --output-dir data/demo --seed {seed}
```

The script (`tools/demo_corpus.py`) is deterministic: with the same seed and the same
versions of espeak-ng, soxr and libsndfile it recreates the same files byte for byte.

Each voice speaks {clips_per_voice} clips, balanced across the four emotions. For every clip the
generator draws:

1. **A sentence** of one of four kinds ({weights}):
   - *emotional*: words that carry the clip's emotion ("I am furious about the train.");
   - *neutral*: emotionally neutral words, the same templates for every emotion, so only the
     voice tells ("The meeting starts after lunch.");
   - *misleading*: words of another emotion than the voice ("I am so happy about the trip!"
     spoken with the sad prosody);
   - *contrast*: a past feeling of another emotion and the present feeling of the clip's
     emotion, in either order ("I am calm now, although the letter first made me furious.").
     The words alone only narrow it down to two emotions; their order tells which one is
     meant (a bag of words scores about 50% on them, word trigrams about 94%).
2. **Prosody**: espeak-ng pitch, speed and amplitude from the emotion's normal distribution
   below, shifted by the voice's pitch offset and speed scale. The distributions overlap.
3. **Background noise**: white noise at a level drawn uniformly from {noise_low:g} to
   {noise_high:g} dBFS, independently of the emotion. Clips shorter than {min_seconds:g} s are
   padded; sentences that come out longer than {max_seconds:g} s are redrawn.

So the text alone and the audio alone are each informative but neither is sufficient; a
model needs both modalities to do well. The voices of the three splits are disjoint.

{prosody_table}

## Emotions per split

{label_table}

## Sentence kinds per split

{kind_table}

## Voices

{voice_table}
"""
