"""3M-SER teachers and students: shapes, mask invariance, shared heads, ablations, saving."""

import keras
import numpy as np
import pytest
from text_model_stand_ins import (
    TINY_BERT,
    build_tiny_audio_encoder,
    build_tiny_bert,
    make_raw_batch,
    save_tiny_preset,
)

from ser_keras.models import (
    PAPER_MODELS,
    build_fusion_head,
    build_raw_model,
    build_ser_models,
)
from ser_keras.text import TextPresetError, load_text_encoder
from ser_keras.vggish import build_vggish

HIDDEN = TINY_BERT["hidden_dim"]


def cached_inputs(models, batch):
    """Runs the encoders separately: the cached-input model's inputs for a raw batch."""
    text = models.text_encoder(
        {key: batch[key] for key in ("token_ids", "segment_ids", "padding_mask")}, training=False
    )["sequence_output"]
    patches = batch["audio_patches"]
    audio = models.audio_encoder(patches.reshape(-1, *patches.shape[2:]), training=False)
    return {
        "text_features": np.asarray(text),
        "padding_mask": batch["padding_mask"],
        "audio_embeddings": np.asarray(audio).reshape(*patches.shape[:2], -1),
        "audio_mask": batch["audio_mask"],
    }


@pytest.fixture(scope="module")
def tiny_models():
    keras.utils.set_random_seed(1)
    return build_ser_models(build_tiny_bert(), build_tiny_audio_encoder(), pooling="cls")


def test_tiny_teacher_and_student_with_vggish_run_a_forward_pass(tmp_path):
    preset = save_tiny_preset(tmp_path / "bert")
    vggish = build_vggish()
    batch = make_raw_batch([5, 3], [2, 1])
    for num_layers in (None, 1):
        models = build_ser_models(load_text_encoder(preset, num_layers), vggish, num_classes=4)
        outputs = models.raw_model(batch, training=False)
        assert sorted(outputs) == ["logits", "text_features"]
        assert outputs["logits"].shape == (2, 4)
        assert outputs["text_features"].shape == (2, 5, HIDDEN)
        assert np.isfinite(np.asarray(outputs["logits"])).all()
        expected_layers = TINY_BERT["num_layers"] if num_layers is None else num_layers
        assert models.text_encoder.num_layers == expected_layers


def test_contract_input_names_and_shapes(tiny_models):
    assert sorted(tiny_models.raw_model.input) == [
        "audio_mask", "audio_patches", "padding_mask", "segment_ids", "token_ids"
    ]
    assert sorted(tiny_models.cached_model.input) == [
        "audio_embeddings", "audio_mask", "padding_mask", "text_features"
    ]
    outputs = tiny_models.cached_model(cached_inputs(tiny_models, make_raw_batch([4, 6], [1, 3])))
    assert outputs["logits"].shape == (2, 4)
    assert outputs["text_features"].shape == (2, 6, HIDDEN)


@pytest.mark.parametrize("pooling", ["cls", "mean", "max"])
def test_logits_do_not_change_when_batched_with_longer_samples(pooling):
    keras.utils.set_random_seed(2)
    models = build_ser_models(build_tiny_bert(), build_tiny_audio_encoder(), pooling=pooling)
    alone = make_raw_batch([4], [1])
    batched = make_raw_batch([4, 9], [1, 3], seed=0)
    np.testing.assert_array_equal(batched["token_ids"][0, :4], alone["token_ids"][0])
    expected = np.asarray(models.raw_model(alone, training=False)["logits"])[0]
    got = np.asarray(models.raw_model(batched, training=False)["logits"])[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    cached = np.asarray(models.cached_model(cached_inputs(models, batched), training=False)["logits"])[0]
    np.testing.assert_allclose(cached, expected, atol=1e-5)
    # Control: treating the padding as real changes the logits, so the masks matter.
    unmasked = dict(batched, padding_mask=np.ones_like(batched["padding_mask"]),
                    audio_mask=np.ones_like(batched["audio_mask"]))
    assert np.abs(np.asarray(models.raw_model(unmasked, training=False)["logits"])[0] - expected).max() > 1e-4


def test_raw_and_cached_models_share_the_fusion_head(tiny_models):
    head = tiny_models.head
    assert tiny_models.raw_model.get_layer("fusion_head") is head
    assert tiny_models.cached_model.get_layer("fusion_head") is head
    batch = make_raw_batch([5, 2], [2, 3])
    raw = np.asarray(tiny_models.raw_model(batch, training=False)["logits"])
    cached = np.asarray(tiny_models.cached_model(cached_inputs(tiny_models, batch), training=False)["logits"])
    np.testing.assert_allclose(raw, cached, atol=1e-5)
    # Changing a head weight changes both models.
    logits_layer = head.get_layer("logits")
    kernel, bias = logits_layer.get_weights()
    logits_layer.set_weights([kernel, bias + 1.0])
    try:
        np.testing.assert_allclose(
            np.asarray(tiny_models.raw_model(batch, training=False)["logits"]), raw + 1.0, atol=1e-5
        )
    finally:
        logits_layer.set_weights([kernel, bias])


def test_head_architecture_follows_3m_ser():
    head = build_fusion_head(text_dim=768, num_classes=4)
    text_block, fusion_block = head.get_layer("text_attention"), head.get_layer("fusion_attention")
    assert (text_block.attention.num_heads, text_block.attention.key_dim) == (8, 96)
    assert (fusion_block.attention.num_heads, fusion_block.attention.key_dim) == (8, 16)
    assert text_block.attention.dropout == fusion_block.attention.dropout == 0.5
    assert text_block.projection.units == fusion_block.projection.units == 128
    assert head.get_layer("audio_layer_norm").epsilon == text_block.layer_norm.epsilon == 1e-5
    assert head.get_layer("classifier_dropout").rate == 0.5
    assert head.get_layer("classifier_hidden").units == 64
    assert head.get_layer("classifier_activation").negative_slope == pytest.approx(0.01)
    assert head.get_layer("logits").units == 4
    # 2 attention layers (4*768^2+4*768 and 4*128^2+4*128) + Dense/LayerNorm layers.
    assert head.count_params() == 2_362_368 + 66_048 + 98_432 + 16_512 + 8_256 + 260 + 3 * 256


def test_head_dropout_sets_the_attention_blocks_and_the_classifier_and_is_checked():
    head = build_fusion_head(text_dim=32, num_classes=4, dropout=0.1)
    rates = [head.get_layer(name).attention.dropout for name in ("text_attention", "fusion_attention")]
    assert rates + [head.get_layer("classifier_dropout").rate] == [0.1, 0.1, 0.1]
    unregularised = build_fusion_head(text_dim=32, num_classes=4, modality="text", dropout=0.0)
    inputs = {"text_features": np.random.default_rng(0).normal(size=(2, 5, 32)).astype("float32"),
              "padding_mask": np.ones((2, 5), bool)}
    np.testing.assert_allclose(unregularised(inputs, training=True), unregularised(inputs, training=False), atol=1e-6)
    with pytest.raises(ValueError, match="dropout must be in"):
        build_fusion_head(text_dim=32, dropout=1.0)


def test_dropout_is_active_in_training_only(tiny_models):
    batch = cached_inputs(tiny_models, make_raw_batch([6], [2]))
    inference = [np.asarray(tiny_models.cached_model(batch, training=False)["logits"]) for _ in range(2)]
    training = [np.asarray(tiny_models.cached_model(batch, training=True)["logits"]) for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])
    assert np.abs(training[0] - training[1]).max() > 0


def test_text_only_and_audio_only_ablations():
    keras.utils.set_random_seed(3)
    batch = make_raw_batch([5, 3], [2, 1])
    text = build_ser_models(build_tiny_bert(), None, modality="text")
    assert sorted(text.raw_model.input) == ["padding_mask", "segment_ids", "token_ids"]
    assert sorted(text.cached_model.input) == ["padding_mask", "text_features"]
    outputs = text.raw_model({k: batch[k] for k in text.raw_model.input}, training=False)
    assert outputs["logits"].shape == (2, 4) and outputs["text_features"].shape == (2, 5, HIDDEN)

    audio = build_ser_models(None, build_tiny_audio_encoder(), modality="audio", pooling="mean", num_classes=3)
    assert sorted(audio.raw_model.input) == ["audio_mask", "audio_patches"]
    assert sorted(audio.cached_model.input) == ["audio_embeddings", "audio_mask"]
    outputs = audio.raw_model({k: batch[k] for k in audio.raw_model.input}, training=False)
    assert list(outputs) == ["logits"] and outputs["logits"].shape == (2, 3)

    with pytest.raises(ValueError, match="pooling='cls'"):
        build_fusion_head(text_dim=None, modality="audio", pooling="cls")
    with pytest.raises(ValueError, match="modality"):
        build_fusion_head(text_dim=32, modality="video")


def test_raw_model_with_cached_audio_embeddings_matches(tiny_models):
    finetune = build_raw_model(tiny_models.head, tiny_models.text_encoder, audio_encoder=None)
    assert sorted(finetune.input) == ["audio_embeddings", "audio_mask", "padding_mask", "segment_ids", "token_ids"]
    batch = make_raw_batch([3, 7], [3, 1])
    cached = cached_inputs(tiny_models, batch)
    inputs = {k: batch[k] for k in ("token_ids", "segment_ids", "padding_mask", "audio_mask")}
    inputs["audio_embeddings"] = cached["audio_embeddings"]
    np.testing.assert_allclose(
        np.asarray(finetune(inputs, training=False)["logits"]),
        np.asarray(tiny_models.raw_model(batch, training=False)["logits"]),
        atol=1e-5,
    )
    with pytest.raises(ValueError, match="text_encoder"):
        build_raw_model(tiny_models.head)


def test_saved_models_reload_with_the_same_logits(tiny_models, tmp_path):
    batch = make_raw_batch([4, 6], [2, 1])
    for model, inputs in (
        (tiny_models.raw_model, batch),
        (tiny_models.cached_model, cached_inputs(tiny_models, batch)),
    ):
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        restored = keras.saving.load_model(path)
        np.testing.assert_allclose(
            np.asarray(restored(inputs, training=False)["logits"]),
            np.asarray(model(inputs, training=False)["logits"]),
            atol=1e-6,
        )


def test_paper_models_and_students_from_a_preset(tmp_path):
    assert {name: model.num_text_layers for name, model in PAPER_MODELS.items()} == {
        "bert_base": 12, "bert_6": 6, "bert_4": 4, "bert_2": 2
    }
    preset = save_tiny_preset(tmp_path / "bert")  # 3 layers
    layers = PAPER_MODELS["bert_2"].num_text_layers
    student = build_ser_models(load_text_encoder(preset, layers), None, name="bert_2")
    teacher = build_ser_models(load_text_encoder(preset), None, name="teacher")
    assert student.text_encoder.num_layers == 2 and teacher.text_encoder.num_layers == 3
    assert student.raw_model.name == "bert_2"
    np.testing.assert_array_equal(
        student.text_encoder.get_layer("transformer_layer_1").get_weights()[0],
        teacher.text_encoder.get_layer("transformer_layer_1").get_weights()[0],
    )
    with pytest.raises(TextPresetError, match="more transformer layers"):
        load_text_encoder(preset, PAPER_MODELS["bert_6"].num_text_layers)
