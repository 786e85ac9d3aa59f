"""Students keep the teacher's embeddings and first k transformer layers, bit for bit."""

import numpy as np
import pytest
from text_model_stand_ins import TINY_BERT, build_tiny_bert, save_tiny_preset

from ser_keras.text import TextPresetError, load_text_encoder

EMBEDDING_LAYERS = ("token_embedding", "position_embedding", "segment_embedding", "embeddings_layer_norm")


def assert_same_weights(first, second):
    first_weights, second_weights = first.get_weights(), second.get_weights()
    assert len(first_weights) == len(second_weights) > 0
    for a, b in zip(first_weights, second_weights, strict=True):
        np.testing.assert_array_equal(a, b)


def assert_student_is_truncated_teacher(teacher, student, num_layers):
    assert student.num_layers == num_layers
    assert (student.hidden_dim, student.num_heads) == (teacher.hidden_dim, teacher.num_heads)
    for name in (*EMBEDDING_LAYERS, "pooled_dense"):
        assert_same_weights(teacher.get_layer(name), student.get_layer(name))
    for index in range(num_layers):
        name = f"transformer_layer_{index}"
        assert_same_weights(teacher.get_layer(name), student.get_layer(name))
    names = {layer.name for layer in student.layers}
    assert f"transformer_layer_{num_layers}" not in names


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    return save_tiny_preset(tmp_path_factory.mktemp("tiny_bert"))


def test_student_from_keras_hub_preset_equals_teacher_layers(tiny_preset):
    teacher = load_text_encoder(tiny_preset)
    original = build_tiny_bert()  # the weights that were saved
    assert teacher.num_layers == TINY_BERT["num_layers"]
    assert_same_weights(original, teacher)
    for num_layers in (1, 2):
        assert_student_is_truncated_teacher(teacher, load_text_encoder(tiny_preset, num_layers), num_layers)


def test_student_from_minilm_directory_equals_teacher_layers():
    teacher = load_text_encoder(None)
    student = load_text_encoder(None, num_layers=2)
    assert (teacher.num_layers, teacher.hidden_dim) == (6, 384)
    assert_student_is_truncated_teacher(teacher, student, 2)


def test_random_weights_and_invalid_layer_counts(tiny_preset):
    pretrained = load_text_encoder(tiny_preset)
    random = load_text_encoder(tiny_preset, load_weights=False)
    assert random.count_params() == pretrained.count_params()
    assert not np.array_equal(
        random.get_layer("token_embedding").get_weights()[0],
        pretrained.get_layer("token_embedding").get_weights()[0],
    )
    with pytest.raises(TextPresetError, match="more transformer layers"):
        load_text_encoder(tiny_preset, num_layers=4)
    with pytest.raises(ValueError, match="positive integer"):
        load_text_encoder(tiny_preset, num_layers=0)
