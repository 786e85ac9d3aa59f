"""Linear probes on EmoDB under leave-one-speaker-out: which utterance statistics, which speaker statistics.

The study behind the default audio input and speaker-normalisation rule (docs/RESULTS.md, "EmoDB").
Each fold tests on one speaker, leaves out the next one (the job's validation speaker) and fits
`ser_keras.probes.fit_linear_probe` on the other eight; the first 5 clips of the test speaker
(by utterance id) are not scored, as in the job. Prints mean ± std balanced accuracy over the 10 folds.

    python docs/studies/emodb_probes.py /path/to/emodb/wav
"""

from __future__ import annotations

import sys

import numpy as np
import soundfile
from sklearn.metrics import balanced_accuracy_score

from ser_keras.audio import waveform_to_examples
from ser_keras.audio.statistics import FEATURES_PER_FRAME, utterance_statistics
from ser_keras.data.corpora import read_corpus
from ser_keras.data.speaker_norm import BandStatistics, normalize_patches
from ser_keras.probes import fit_linear_probe

ENROLMENT_CLIPS = 5


def _first_clips(ids: np.ndarray, speakers: np.ndarray, k: int | None) -> np.ndarray:
    """Mask of each speaker's first k clips by id (all of them for `None`)."""
    mask = np.zeros(len(ids), bool)
    for speaker in set(speakers):
        members = np.where(speakers == speaker)[0]
        mask[members[np.argsort(ids[members])][:k]] = True
    return mask


def _normalised(patches: list[np.ndarray], speakers: np.ndarray, source: np.ndarray) -> list[np.ndarray]:
    reference = BandStatistics.of(patches)
    statistics = {s: BandStatistics.of([p for p, m, t in zip(patches, source, speakers) if m and t == s]) for s in set(speakers)}
    return [normalize_patches(p, statistics[s], reference) for p, s in zip(patches, speakers)]


def main(data_dir: str) -> None:
    corpus = read_corpus("emodb", data_dir)
    items = sorted(corpus.utterances, key=lambda item: item.utterance_id)
    ids = np.array([item.utterance_id for item in items])
    speakers = np.array([item.speaker for item in items])
    labels = np.array([corpus.label_names.index(item.label) for item in items])
    patches = []
    for item in items:
        samples, rate = soundfile.read(item.audio_path, dtype="float32")
        patches.append(waveform_to_examples(samples, rate).numpy())
    first, every = _first_clips(ids, speakers, ENROLMENT_CLIPS), _first_clips(ids, speakers, None)
    # (training clips' speaker statistics, scored clips' speaker statistics): from each speaker's first 5 or all clips.
    rules = {"none": None, "train all / test first 5 (mismatched)": (every, first),
             "first 5 / first 5 (matched)": (first, first), "all / all (transductive)": (every, every)}
    folds = sorted(set(speakers))
    for rule, sources in rules.items():
        train_patches = patches if sources is None else _normalised(patches, speakers, sources[0])
        test_patches = patches if sources is None else _normalised(patches, speakers, sources[1])
        train_all, test_all = (np.stack([utterance_statistics(p) for p in group]) for group in (train_patches, test_patches))
        for name, columns in (("log-mel (256)", slice(0, 64)), ("log-mel + MFCC (336)", slice(0, FEATURES_PER_FRAME))):
            train_x = train_all.reshape(len(items), 4, FEATURES_PER_FRAME)[:, :, columns].reshape(len(items), -1)
            test_x = test_all.reshape(len(items), 4, FEATURES_PER_FRAME)[:, :, columns].reshape(len(items), -1)
            scores = []
            for index, speaker in enumerate(folds):
                held_out = folds[(index + 1) % len(folds)]
                train = (speakers != speaker) & (speakers != held_out)
                test = (speakers == speaker) & ~first
                probe = fit_linear_probe(train_x[train], labels[train])
                scores.append(balanced_accuracy_score(labels[test], probe.predict(test_x[test])))
            print(f"{rule:40s} {name:22s} {100 * np.mean(scores):5.1f} ± {100 * np.std(scores):4.1f}")


if __name__ == "__main__":
    main(sys.argv[1])
