"""3M-SER teachers and students: the fusion head, model builders and parameter counts.

Example:

>>> from ser_keras.models import PAPER_MODELS, build_ser_models
>>> from ser_keras.text import load_text_encoder
>>> from ser_keras.vggish import build_vggish
>>> layers = PAPER_MODELS["bert_2"].num_text_layers
>>> student = build_ser_models(load_text_encoder("bert_base_en_uncased", layers),
...                            build_vggish(weights="vggish_model.ckpt"))  # doctest: +SKIP
>>> student.cached_model.output.keys()  # doctest: +SKIP
dict_keys(['logits', 'text_features'])

Saved models: importing `ser_keras.models` registers every Keras layer that ser_keras puts
into a model (the fusion head's blocks, `PatchEncoder`, the compact audio CNN's
`BandStandardization` and `PatchStatistics`, `UtteranceStatistics`, `VGGishPostprocessor`), so a `.keras` file of any
model the job or the benchmark builds loads with `keras.saving.load_model`, without
`custom_objects`. keras-hub's BERT needs no import (Keras imports keras-hub itself). The
training wrappers (`SERClassifier`, `Distiller`) are registered by `ser_keras.training`.

>>> import keras
>>> import ser_keras.models  # registers the layers
>>> model = keras.saving.load_model("student.keras")  # doctest: +SKIP
"""

import ser_keras.vggish.postprocess  # noqa: F401  (registers VGGishPostprocessor for load_model)
from ser_keras.models.audio_cnn import (
    BandStandardization,
    PatchStatistics,
    build_compact_audio_encoder,
    set_band_statistics,
)
from ser_keras.models.builders import (
    PAPER_MODELS,
    PaperModel,
    SERModels,
    build_cached_model,
    build_raw_model,
    build_ser_models,
)
from ser_keras.models.fusion import (
    AUDIO_EMBEDDINGS,
    AUDIO_MASK,
    AUDIO_PATCHES,
    AUDIO_STATISTICS,
    LOGITS,
    MODALITIES,
    PADDING_MASK,
    SEGMENT_IDS,
    TEXT_FEATURES,
    TOKEN_IDS,
    build_fusion_head,
    set_statistics_standardization,
)
from ser_keras.models.layers import (
    POOLING_MODES,
    ConcatenateSequences,
    MaskedPooling,
    MaskedSelfAttentionBlock,
    PatchEncoder,
)
from ser_keras.models.params import (
    PAPER_COUNT_DEFINITION,
    PAPER_TOTAL_PARAMS_M,
    ModelParameters,
    TextEncoderParameters,
    component_parameters,
    parameter_table,
    parameter_table_json,
    parameter_table_markdown,
)
from ser_keras.models.utterance_statistics import UtteranceStatistics, clip_statistics

__all__ = [
    "AUDIO_EMBEDDINGS",
    "AUDIO_MASK",
    "AUDIO_PATCHES",
    "AUDIO_STATISTICS",
    "LOGITS",
    "MODALITIES",
    "PADDING_MASK",
    "PAPER_COUNT_DEFINITION",
    "PAPER_MODELS",
    "PAPER_TOTAL_PARAMS_M",
    "POOLING_MODES",
    "SEGMENT_IDS",
    "TEXT_FEATURES",
    "TOKEN_IDS",
    "BandStandardization",
    "ConcatenateSequences",
    "MaskedPooling",
    "MaskedSelfAttentionBlock",
    "ModelParameters",
    "PaperModel",
    "PatchEncoder",
    "PatchStatistics",
    "SERModels",
    "TextEncoderParameters",
    "UtteranceStatistics",
    "build_cached_model",
    "build_compact_audio_encoder",
    "build_fusion_head",
    "build_raw_model",
    "build_ser_models",
    "clip_statistics",
    "component_parameters",
    "parameter_table",
    "parameter_table_json",
    "parameter_table_markdown",
    "set_band_statistics",
    "set_statistics_standardization",
]
