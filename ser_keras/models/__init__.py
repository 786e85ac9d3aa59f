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
"""

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
    LOGITS,
    MODALITIES,
    PADDING_MASK,
    SEGMENT_IDS,
    TEXT_FEATURES,
    TOKEN_IDS,
    build_fusion_head,
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

__all__ = [
    "AUDIO_EMBEDDINGS",
    "AUDIO_MASK",
    "AUDIO_PATCHES",
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
    "ConcatenateSequences",
    "MaskedPooling",
    "MaskedSelfAttentionBlock",
    "ModelParameters",
    "PaperModel",
    "PatchEncoder",
    "SERModels",
    "TextEncoderParameters",
    "build_cached_model",
    "build_fusion_head",
    "build_raw_model",
    "build_ser_models",
    "component_parameters",
    "parameter_table",
    "parameter_table_json",
    "parameter_table_markdown",
]
