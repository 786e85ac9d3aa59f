"""Parameter counts per component, and the paper's Table I ("Total Params").

Components: the BERT embeddings (token, position and segment embeddings and
their LayerNorm), the transformer layers, the pooler, VGGish and the fusion
head (of which its two multi-head-attention layers are counted separately).

The paper's "Total Params" (157.91 / 115.38 / 101.21 / 87.03 M) is reproduced
exactly, for all four models, by transformer layers + pooler + VGGish + the
fusion head WITHOUT its two multi-head-attention layers. No sum of whole
components matches (layers + pooler + VGGish is 0.12 M short). The parameters
left out, BERT's embedding tables and the fusion attention, are those that a
per-module PyTorch profiler such as `thop` does not count (it has no rule for
`nn.Embedding` and `nn.MultiheadAttention`), presumably how the paper counted.
BERT's embedding LayerNorm (1,536 parameters) is below the table's 0.01 M
resolution, so whether it was counted cannot be told.

Example:

>>> rows = parameter_table()  # BERT-base architecture, random weights  # doctest: +SKIP
>>> round(rows[0].encoder_layers_and_pooler / 1e6, 2)  # doctest: +SKIP
85.65
>>> print(parameter_table_markdown(rows))  # doctest: +SKIP
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import keras

from ser_keras.labels import DEFAULT_LABELS
from ser_keras.models.builders import PAPER_MODELS
from ser_keras.models.fusion import build_fusion_head
from ser_keras.models.layers import MaskedSelfAttentionBlock

#: keras-hub's `bert_base_en_uncased` architecture (the paper's teacher).
BERT_BASE_ARCHITECTURE = {
    "vocabulary_size": 30522,
    "num_layers": 12,
    "num_heads": 12,
    "hidden_dim": 768,
    "intermediate_dim": 3072,
    "max_sequence_length": 512,
    "num_segments": 2,
}

#: The paper's "Total Params" (Table I), in millions, by number of BERT layers.
PAPER_TOTAL_PARAMS_M: dict[int, float] = {12: 157.91, 6: 115.38, 4: 101.21, 2: 87.03}

#: What the paper's "Total Params" counts, as found by reproducing its figures.
PAPER_COUNT_DEFINITION = (
    "transformer layers + pooler + VGGish + fusion head without its two "
    "multi-head-attention layers (left out: BERT's embedding tables and the fusion "
    "attention, the parameters that a per-module PyTorch profiler such as thop skips, "
    "having no rule for nn.Embedding and nn.MultiheadAttention; likely how the paper counted)"
)

_EMBEDDING_LAYERS = (
    "token_embedding",
    "position_embedding",
    "segment_embedding",
    "embeddings_layer_norm",
)
_POOLER_LAYER = "pooled_dense"


def build_bert_base_architecture() -> keras.Model:
    """The `bert_base_en_uncased` backbone with random weights (no download).

    Example:

    >>> build_bert_base_architecture().count_params()  # doctest: +SKIP
    109482240
    """
    import keras_hub

    return keras_hub.models.BertBackbone(**BERT_BASE_ARCHITECTURE)


@dataclass(frozen=True)
class TextEncoderParameters:
    """A BERT backbone's parameters: embeddings, each transformer layer, pooler.

    Example:

    >>> counts = TextEncoderParameters.from_backbone(build_bert_base_architecture())  # doctest: +SKIP
    >>> counts.embeddings, counts.layers[0], counts.pooler  # doctest: +SKIP
    (23837184, 7087872, 590592)
    """

    embeddings: int
    layers: tuple[int, ...]
    pooler: int

    @classmethod
    def from_backbone(cls, backbone: keras.Model) -> TextEncoderParameters:
        """Counts a keras-hub `BertBackbone`'s parameters by component."""
        counts = cls(
            embeddings=sum(backbone.get_layer(name).count_params() for name in _EMBEDDING_LAYERS),
            layers=tuple(
                backbone.get_layer(f"transformer_layer_{index}").count_params()
                for index in range(backbone.num_layers)
            ),
            pooler=backbone.get_layer(_POOLER_LAYER).count_params(),
        )
        if counts.embeddings + sum(counts.layers) + counts.pooler != backbone.count_params():
            raise ValueError(
                f"{backbone.name}: the components do not add up to its {backbone.count_params()} "
                "parameters; is it a keras-hub BertBackbone?"
            )
        return counts


def fusion_attention_parameters(head: keras.Model) -> int:
    """Parameters of a fusion head's multi-head-attention layers.

    Example:

    >>> fusion_attention_parameters(build_fusion_head(text_dim=768))
    2428416
    """
    return sum(
        layer.attention.count_params()
        for layer in head.layers
        if isinstance(layer, MaskedSelfAttentionBlock)
    )


@dataclass(frozen=True)
class ModelParameters:
    """One row of the parameter table: a model's parameters by component.

    Example:

    >>> row = ModelParameters("BERT_2-VGGish", 2, 23837184, 14175744, 590592,
    ...                       72141184, 2552644, 2428416, 87.03)
    >>> round(row.paper_count / 1e6, 2)
    87.03
    """

    label: str
    num_text_layers: int
    bert_embeddings: int
    transformer_layers: int
    pooler: int
    vggish: int
    fusion_head: int
    fusion_attention: int
    paper_total_m: float | None = None

    @property
    def encoder_layers_and_pooler(self) -> int:
        """Transformer layers + pooler: the paper's Table I "BERT" column."""
        return self.transformer_layers + self.pooler

    @property
    def total(self) -> int:
        """Every parameter of the model."""
        return self.bert_embeddings + self.encoder_layers_and_pooler + self.vggish + self.fusion_head

    @property
    def paper_count(self) -> int:
        """The parameters that the paper's "Total Params" counts (see `PAPER_COUNT_DEFINITION`)."""
        return self.encoder_layers_and_pooler + self.vggish + self.fusion_head - self.fusion_attention

    def to_dict(self) -> dict:
        """The counts, derived sums included, as a JSON-ready dict."""
        return {
            **asdict(self),
            "encoder_layers_and_pooler": self.encoder_layers_and_pooler,
            "total": self.total,
            "paper_count": self.paper_count,
        }


def component_parameters(
    head: keras.Model, text_encoder: keras.Model | None, audio_encoder: keras.Model | None
) -> dict[str, int]:
    """Parameters by component of a model outside the paper's table (a compact student).

    The audio encoder's count goes in the `vggish` column (the table's audio
    column, whatever the encoder); an audio-only head has no text encoder.

    Example:

    >>> component_parameters(head, narrow_bert, compact_cnn)["total"]  # doctest: +SKIP
    4705412
    """
    counts = {
        "text_encoder": text_encoder.count_params() if text_encoder is not None else 0,
        "vggish": audio_encoder.count_params() if audio_encoder is not None else 0,
        "fusion_head": head.count_params(),
    }
    return {**counts, "total": sum(counts.values())}


def has_bert_base_architecture(backbone: keras.Model) -> bool:
    """Whether a BERT backbone has `bert_base_en_uncased`'s architecture (the paper's teacher).

    Example:

    >>> has_bert_base_architecture(build_bert_base_architecture())  # doctest: +SKIP
    True
    """
    config = backbone.get_config()
    return all(config.get(key) == value for key, value in BERT_BASE_ARCHITECTURE.items())


def _row_label(num_text_layers: int, paper_architecture: bool) -> str:
    for model in PAPER_MODELS.values():
        if paper_architecture and model.num_text_layers == num_text_layers:
            return model.label
    return f"BERT_{num_text_layers}-VGGish"


def parameter_table(
    text_encoder: keras.Model | None = None,
    layer_counts: Sequence[int] | None = None,
    vggish_parameters: int | None = None,
    num_classes: int = len(DEFAULT_LABELS),
    paper_totals_m: Mapping[int, float] | None = None,
) -> list[ModelParameters]:
    """Counts the parameters of a teacher and its students, by component.

    Args:
        text_encoder: the teacher's BERT backbone (default: the
            `bert_base_en_uncased` architecture with random weights). Students
            keep its first `k` layers, so one backbone covers every row.
        layer_counts: the text layers of each row (default: the paper's
            12, 6, 4, 2, capped to the encoder's depth).
        vggish_parameters: VGGish's count (default: counted on a built VGGish).
        num_classes: classifier outputs of the fusion head.
        paper_totals_m: the paper's figures to print beside each row (default:
            `PAPER_TOTAL_PARAMS_M` when the encoder has the BERT-base
            architecture, else none).

    Example:

    >>> rows = parameter_table(layer_counts=[2])  # doctest: +SKIP
    >>> rows[0].transformer_layers  # doctest: +SKIP
    14175744
    """
    if text_encoder is None:
        text_encoder = build_bert_base_architecture()
    paper_architecture = has_bert_base_architecture(text_encoder)
    if paper_totals_m is None:
        paper_totals_m = PAPER_TOTAL_PARAMS_M if paper_architecture else {}
    text = TextEncoderParameters.from_backbone(text_encoder)
    if layer_counts is None:
        layer_counts = sorted(
            {min(model.num_text_layers, len(text.layers)) for model in PAPER_MODELS.values()},
            reverse=True,
        )
    invalid = [k for k in layer_counts if not 1 <= k <= len(text.layers)]
    if invalid:
        raise ValueError(
            f"layer_counts {invalid} are outside 1..{len(text.layers)}, the depth of "
            f"the text encoder '{text_encoder.name}'."
        )
    if vggish_parameters is None:
        from ser_keras.vggish import vggish_network

        vggish_parameters = vggish_network().count_params()
    head = build_fusion_head(text_dim=text_encoder.hidden_dim, num_classes=num_classes)
    return [
        ModelParameters(
            label=_row_label(k, paper_architecture),
            num_text_layers=k,
            bert_embeddings=text.embeddings,
            transformer_layers=sum(text.layers[:k]),
            pooler=text.pooler,
            vggish=vggish_parameters,
            fusion_head=head.count_params(),
            fusion_attention=fusion_attention_parameters(head),
            paper_total_m=paper_totals_m.get(k),
        )
        for k in layer_counts
    ]


def _millions(count: int) -> str:
    return f"{count / 1e6:.2f}"


def _whole_component_gaps(row: ModelParameters) -> str:
    without_head = row.encoder_layers_and_pooler + row.vggish
    with_head = without_head + row.fusion_head
    return (
        f" No sum of whole components matches: for {row.label}, layers + pooler + VGGish is "
        f"{_millions(without_head)} M ({without_head / 1e6 - row.paper_total_m:+.2f} M) and "
        f"adding the whole fusion head gives {_millions(with_head)} M "
        f"({with_head / 1e6 - row.paper_total_m:+.2f} M)."
    )


def parameter_table_markdown(rows: Sequence[ModelParameters]) -> str:
    """The table as markdown, in millions, with a note on what the paper counts.

    Example:

    >>> print(parameter_table_markdown(parameter_table()))  # doctest: +SKIP
    """
    header = (
        "| model | BERT layers | BERT embeddings (M) | transformer layers (M) | pooler (M) "
        "| layers + pooler (M) | VGGish (M) | fusion head (M) | of which attention (M) "
        "| total (M) | paper count (M) | paper Total Params (M) |"
    )
    lines = [header, "|" + "---|" * 12]
    for row in rows:
        paper = "" if row.paper_total_m is None else f"{row.paper_total_m:.2f}"
        cells = [
            row.label,
            str(row.num_text_layers),
            *(
                _millions(count)
                for count in (
                    row.bert_embeddings,
                    row.transformer_layers,
                    row.pooler,
                    row.encoder_layers_and_pooler,
                    row.vggish,
                    row.fusion_head,
                    row.fusion_attention,
                    row.total,
                    row.paper_count,
                )
            ),
            paper,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    note = f'\n"paper count" = {PAPER_COUNT_DEFINITION}.'
    with_paper = [row for row in rows if row.paper_total_m is not None]
    if with_paper:
        largest_gap = max(abs(row.paper_count / 1e6 - row.paper_total_m) for row in with_paper)
        if largest_gap < 0.005:
            note += " It reproduces the paper's Total Params to the printed 0.01 M."
        else:
            note += f" It differs from the paper's Total Params by up to {largest_gap:.2f} M."
        note += _whole_component_gaps(with_paper[0])
    note += ' "total" counts every parameter.'
    return "\n".join(lines) + "\n" + note + "\n"


def parameter_table_json(rows: Sequence[ModelParameters]) -> str:
    """The table as JSON: exact counts per row and the definition of the paper's count.

    Example:

    >>> json.loads(parameter_table_json(parameter_table()))["rows"][0]["vggish"]  # doctest: +SKIP
    72141184
    """
    return json.dumps(
        {"paper_count_definition": PAPER_COUNT_DEFINITION, "rows": [row.to_dict() for row in rows]},
        indent=2,
    )
