"""Reusing saved models only when they were trained on the same data with the same settings.

Saved teachers live in `<output_dir>/teachers/<settings hash>/<data digest>/<fold>`
and students in `<run_dir>/models/<settings hash>/<data digest>/<fold>`. The
settings hash covers the configuration that shapes the models
(`DistillJobConfig.fingerprint_fields`, from each config field's `shapes(...)`
marker); the data digest covers what the models were trained and selected on:
every clip's utterance id, label, speaker, transcript, split (and fold) and the
content of its log-mel patches;
the students' digest also covers the content of `--unlabelled-audio`
(`extended_digest`).
Editing a manifest's labels, a split file or an audio file therefore trains
new models, and `explain_reuse` tells the log why a saved model was or was not
reused.

Example:

>>> digest = data_digest([("main", splits)], patches)  # doctest: +SKIP
>>> logger.info(explain_reuse("teacher", "saved_models/teachers", fingerprint, fields, digest))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

#: The settings saved beside each settings-hash folder.
SETTINGS_FILE = "settings.json"


def data_digest(folds: Sequence[tuple[str, Any]], patches: Mapping[str, np.ndarray] | None) -> str:
    """A short hash of the folds' clips: ids, labels, speakers, texts, splits and audio content.

    Args:
        folds: `(fold name, Splits)` pairs.
        patches: utterance id -> log-mel patches (`None` for a text-only job).

    Example:

    >>> from ser_keras.data import Splits, Utterance
    >>> splits = Splits([Utterance("a", "Hi.", "sad")], [], [])
    >>> relabelled = Splits([Utterance("a", "Hi.", "happy")], [], [])
    >>> data_digest([("main", splits)], None) == data_digest([("main", relabelled)], None)
    False
    """
    digest = hashlib.sha256()
    for fold_name, splits in folds:
        for split_name, items in splits._asdict().items():
            for item in items:
                fields = (fold_name, split_name, item.utterance_id, item.label, item.speaker or "", item.text or "")
                digest.update(json.dumps(fields).encode())
                if patches is not None and item.utterance_id in patches:
                    digest.update(np.ascontiguousarray(patches[item.utterance_id], np.float32).tobytes())
    return digest.hexdigest()[:12]


def extended_digest(digest: str, patches: Mapping[str, np.ndarray]) -> str:
    """`digest` combined with the content of more clips (the students' `--unlabelled-audio`); unchanged without any.

    Example:

    >>> extended_digest("ab12", {}) == "ab12", extended_digest("ab12", {"x": np.ones(2)}) == "ab12"
    (True, False)
    """
    if not patches:
        return digest
    combined = hashlib.sha256(digest.encode())
    for key in sorted(patches):
        combined.update(key.encode())
        combined.update(np.ascontiguousarray(patches[key], np.float32).tobytes())
    return combined.hexdigest()[:12]


def record_settings(root: str, fingerprint: str, fields: Mapping[str, Any]) -> None:
    """Writes `<root>/<fingerprint>/settings.json` (once), for `explain_reuse` to compare against.

    Example:

    >>> record_settings("saved_models/teachers", "ab12", {"recipe": {"seed": 0}})  # doctest: +SKIP
    """
    path = os.path.join(root, fingerprint, SETTINGS_FILE)
    if os.path.isfile(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(fields, handle, indent=2, sort_keys=True)
    os.replace(temporary, path)


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def changed_settings(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The dotted names of the settings that differ between two `fingerprint_fields` dicts.

    Example:

    >>> changed_settings({"recipe": {"seed": 0, "batch_size": 32}}, {"recipe": {"seed": 1, "batch_size": 32}})
    ['recipe.seed']
    """
    old_flat, new_flat = _flatten(old), _flatten(new)
    return sorted(key for key in old_flat.keys() | new_flat.keys() if old_flat.get(key) != new_flat.get(key))


def explain_reuse(kind: str, root: str, fingerprint: str, fields: Mapping[str, Any], digest: str) -> str:
    """One log line saying whether the saved `kind` models under `root` can be reused, and why not.

    Args:
        kind: what the models are ("teacher", "students").
        root: the folder of the settings-hash folders.
        fingerprint: this job's settings hash.
        fields: this job's settings (`fingerprint_fields`).
        digest: this job's `data_digest`.

    Example:

    >>> explain_reuse("teacher", "/nonexistent", "ab12", {}, "cd34")
    'No saved teacher in /nonexistent: training from the start.'
    """
    here = os.path.join(root, fingerprint)
    if os.path.isdir(os.path.join(here, digest)):
        return (
            f"Reusing (or resuming) the saved {kind} in {os.path.join(here, digest)}: same settings "
            f"({fingerprint}) and same data ({digest})."
        )
    if os.path.isdir(here):
        others = sorted(name for name in os.listdir(here) if os.path.isdir(os.path.join(here, name)))
        if others:
            return (
                f"Training a new {kind}: saved ones with the same settings ({here}) were trained on other data "
                f"(digest {', '.join(others)}; now {digest}): the clips, labels, speakers, transcripts or split changed."
            )
    saved = []
    if os.path.isdir(root):
        for name in os.listdir(root):
            path = os.path.join(root, name, SETTINGS_FILE)
            if name != fingerprint and os.path.isfile(path):
                with open(path, encoding="utf-8") as handle:
                    saved.append((os.path.getmtime(path), name, json.load(handle)))
    if not saved:
        return f"No saved {kind} in {root}: training from the start."
    _, name, old = max(saved, key=lambda entry: entry[0])
    changes = changed_settings(old, fields)
    return (
        f"Training a new {kind}: the most recent saved one ({os.path.join(root, name)}) differs in "
        f"{', '.join(changes[:8])}{' ...' if len(changes) > 8 else ''}."
    )
