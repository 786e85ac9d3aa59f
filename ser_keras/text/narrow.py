"""Narrow text students: BERT with fewer layers AND a smaller hidden size than the teacher.

The paper's students keep the teacher's hidden size (768), so their text
features, embedding table and every kept layer stay as wide as the teacher's.
A narrow student (for example 2 layers x 128) has the teacher's vocabulary,
tokenizer, segments and maximum length, and a smaller width everywhere.

Initialisation: no transformer weight of the teacher fits a narrower layer, so
the layers start random. The embedding tables (tokens, positions, segments)
start from the teacher's, projected onto the teacher's top `hidden_dim`
principal directions of its token embeddings: the lexical knowledge of the
30,522-row table (most of a narrow student's parameters) is kept as far as
`hidden_dim` dimensions can hold it, instead of being learnt from a few hundred
labelled transcripts. One basis for all three tables keeps their sum (BERT's
input embedding) the projection of the teacher's sum.

Example:

>>> import keras_hub
>>> teacher = keras_hub.models.BertBackbone(
...     vocabulary_size=50, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32)
>>> student = build_narrow_text_encoder(teacher, NarrowTextSpec(num_layers=1, hidden_dim=8, num_heads=2))
>>> student.num_layers, student.hidden_dim, student.vocabulary_size
(1, 8, 50)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger(__name__)

#: The BERT embedding tables a narrow student initialises from the teacher's.
EMBEDDING_LAYERS = ("token_embedding", "position_embedding", "segment_embedding")


@dataclass(frozen=True)
class NarrowTextSpec:
    """The shape of a narrow text student.

    Args:
        num_layers: transformer layers.
        hidden_dim: hidden size (the width of its text features).
        num_heads: attention heads (`hidden_dim` must be a multiple).
        intermediate_dim: feed-forward width (BERT's 4x `hidden_dim` by default).
        dropout: BERT's dropout rate.

    Example:

    >>> NarrowTextSpec().intermediate
    512
    """

    num_layers: int = 2
    hidden_dim: int = 128
    num_heads: int = 2
    intermediate_dim: int | None = None
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.num_layers < 1 or self.hidden_dim < 1 or self.num_heads < 1:
            raise ValueError(f"A narrow text student needs positive sizes; got {self}.")
        if self.hidden_dim % self.num_heads:
            raise ValueError(
                f"hidden_dim ({self.hidden_dim}) must be a multiple of num_heads ({self.num_heads})."
            )

    @property
    def intermediate(self) -> int:
        """The feed-forward width."""
        return self.intermediate_dim or 4 * self.hidden_dim


def compact_text_spec(teacher) -> NarrowTextSpec:
    """The `compact` student's text shape: 2 layers x 128, narrower than any teacher.

    A teacher narrower than 256 (a test-sized model) gets half its width, so
    the student stays narrower than its teacher.

    Example:

    >>> class Teacher: num_layers, hidden_dim = 6, 384  # all-MiniLM-L6-v2
    >>> spec = compact_text_spec(Teacher())
    >>> spec.num_layers, spec.hidden_dim
    (2, 128)
    """
    spec = NarrowTextSpec()
    hidden = min(spec.hidden_dim, max(spec.num_heads, teacher.hidden_dim // 2 // spec.num_heads * spec.num_heads))
    return NarrowTextSpec(num_layers=min(spec.num_layers, teacher.num_layers), hidden_dim=hidden,
                          num_heads=spec.num_heads)


def principal_basis(table: np.ndarray, dimensions: int) -> tuple[np.ndarray, float]:
    """The top `dimensions` principal directions of a table's rows, and the variance they keep.

    Returns `(basis [H, dimensions], kept variance fraction)`; with `dimensions
    >= H` the basis is the identity's first columns and nothing is lost.

    Example:

    >>> rows = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.1], [0.0, -0.1]])
    >>> basis, kept = principal_basis(rows, 1)
    >>> np.abs(basis).round(3).tolist(), round(kept, 3)
    ([[1.0], [0.0]], 0.99)
    """
    width = table.shape[1]
    if dimensions >= width:
        return np.eye(width, dimensions, dtype=np.float32), 1.0
    centred = table - table.mean(axis=0)
    _, singular_values, right = np.linalg.svd(centred, full_matrices=False)
    variance = singular_values**2
    return right[:dimensions].T.astype(np.float32), float(variance[:dimensions].sum() / variance.sum())


def build_narrow_text_encoder(teacher, spec: NarrowTextSpec = NarrowTextSpec(), from_teacher: bool = True):
    """A BERT backbone narrower than `teacher`, with its vocabulary and embeddings projected.

    Args:
        teacher: the teacher's `keras_hub.models.BertBackbone`.
        spec: the student's shape.
        from_teacher: initialise the embedding tables from the teacher's
            (projected onto its principal directions); `False`: all random.

    Returns:
        A `keras_hub.models.BertBackbone` with the teacher's vocabulary,
        maximum sequence length and segments.

    Example:

    >>> student = build_narrow_text_encoder(teacher)  # 2 layers x 128  # doctest: +SKIP
    """
    import keras_hub

    student = keras_hub.models.BertBackbone(
        vocabulary_size=teacher.vocabulary_size,
        num_layers=spec.num_layers,
        num_heads=spec.num_heads,
        hidden_dim=spec.hidden_dim,
        intermediate_dim=spec.intermediate,
        dropout=spec.dropout,
        max_sequence_length=teacher.max_sequence_length,
        num_segments=teacher.num_segments,
        name=f"narrow_bert_{spec.num_layers}x{spec.hidden_dim}",
    )
    kept = None
    if from_teacher:
        tables = {name: teacher.get_layer(name).get_weights()[0] for name in EMBEDDING_LAYERS}
        basis, kept = principal_basis(tables["token_embedding"], spec.hidden_dim)
        mean = tables["token_embedding"].mean(axis=0)
        for name, table in tables.items():
            centre = mean if name == "token_embedding" else 0.0  # the mean token stays in one table
            student.get_layer(name).set_weights([((table - centre) @ basis).astype(np.float32)])
    logger.info(
        "Narrow text student: %d layers x %d (%d heads), %.2f M parameters; embeddings %s.",
        spec.num_layers, spec.hidden_dim, spec.num_heads, student.count_params() / 1e6,
        f"from the teacher's top {spec.hidden_dim} principal directions ({kept:.0%} of its token-embedding "
        "variance)" if kept is not None else "random",
    )
    return student
