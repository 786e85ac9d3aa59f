"""The Keras VGGish: architecture, and weight import from stand-ins of the original sources.

The stand-ins carry the real variable names, shapes and call signature (a TF1
checkpoint; a `google/vggish/1`-like SavedModel taking a 1-D 16 kHz waveform), and
compute their embeddings with their own `tf.nn` network, independent of Keras.
"""

import logging

import numpy as np
import pytest
import tensorflow as tf

from ser_keras.audio import waveform_to_examples
from ser_keras.vggish import (
    ORIGINAL_SCOPES,
    ORIGINAL_SHAPES,
    VGGishWeightsError,
    build_vggish,
    check_vggish_weights,
    model as vggish_model,
)

SHAPES = {
    "vggish/conv1": (3, 3, 1, 64),
    "vggish/conv2": (3, 3, 64, 128),
    "vggish/conv3/conv3_1": (3, 3, 128, 256),
    "vggish/conv3/conv3_2": (3, 3, 256, 256),
    "vggish/conv4/conv4_1": (3, 3, 256, 512),
    "vggish/conv4/conv4_2": (3, 3, 512, 512),
    "vggish/fc1/fc1_1": (12288, 4096),
    "vggish/fc1/fc1_2": (4096, 4096),
    "vggish/fc2": (4096, 128),
}


@pytest.fixture(scope="module")
def original_arrays():
    """Random weights under the original names, scaled so activations stay O(1)."""
    rng = np.random.default_rng(0)
    arrays = {}
    for scope, shape in SHAPES.items():
        fan_in = int(np.prod(shape[:-1]))
        arrays[f"{scope}/weights"] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        arrays[f"{scope}/biases"] = (0.1 * rng.standard_normal(shape[-1])).astype(np.float32)
    return arrays


def reference_network(patches, arrays):
    """VGGish written with raw tf.nn ops, as the original TF-Slim graph computes it."""
    def conv(x, scope):
        x = tf.nn.conv2d(x, arrays[f"{scope}/weights"], strides=1, padding="SAME")
        return tf.nn.relu(x + arrays[f"{scope}/biases"])

    def pool(x):
        return tf.nn.max_pool2d(x, ksize=2, strides=2, padding="SAME")

    def dense(x, scope):
        return tf.matmul(x, arrays[f"{scope}/weights"]) + arrays[f"{scope}/biases"]

    x = tf.reshape(patches, [-1, 96, 64, 1])
    x = pool(conv(x, "vggish/conv1"))
    x = pool(conv(x, "vggish/conv2"))
    x = pool(conv(conv(x, "vggish/conv3/conv3_1"), "vggish/conv3/conv3_2"))
    x = pool(conv(conv(x, "vggish/conv4/conv4_1"), "vggish/conv4/conv4_2"))
    x = tf.reshape(x, [tf.shape(x)[0], -1])
    x = tf.nn.relu(dense(x, "vggish/fc1/fc1_1"))
    x = tf.nn.relu(dense(x, "vggish/fc1/fc1_2"))
    return dense(x, "vggish/fc2")


@pytest.fixture(scope="module")
def waveform():
    t = np.arange(int(2.5 * 16000)) / 16000
    noise = 0.05 * np.random.default_rng(3).standard_normal(t.shape)
    return (0.4 * np.sin(2 * np.pi * 300 * t * (1 + t)) + noise).astype(np.float32)


def test_architecture_and_parameter_count():
    model = build_vggish()
    assert model.count_params() == 72_141_184
    assert model.input_shape == (None, 96, 64)
    assert model.output_shape == (None, 128)
    assert set(ORIGINAL_SCOPES) <= {layer.name for layer in model.layers}
    # The shapes `check_vggish_weights` expects are those of the network's layers.
    assert ORIGINAL_SHAPES == SHAPES
    for layer_name, scope in ORIGINAL_SCOPES.items():
        kernel, bias = model.get_layer(layer_name).weights
        assert (tuple(kernel.shape), tuple(bias.shape)) == (SHAPES[scope], SHAPES[scope][-1:])


def test_random_vggish_is_a_usable_random_feature_extractor():
    patches = np.random.default_rng(0).normal(-2.0, 1.5, (4, 96, 64)).astype(np.float32)
    embeddings = build_vggish()(patches).numpy()
    # He-normal keeps activations of order 1 (the original N(0, 0.01) gives ~1e-6) ...
    assert 0.05 < np.abs(embeddings).mean() < 50
    # ... and different patches give different embeddings.
    assert np.abs(embeddings[0] - embeddings[1]).mean() > 0.01 * np.abs(embeddings).mean()
    original = vggish_model.vggish_network(initializer="original")(patches).numpy()
    assert np.abs(original).mean() < 1e-3


def test_random_weights_warn_once(caplog, monkeypatch):
    monkeypatch.setattr(vggish_model, "_warned_random", False)
    with caplog.at_level(logging.WARNING, logger="ser_keras.vggish.model"):
        build_vggish()
        build_vggish()
    warnings = [r for r in caplog.records if "randomly initialised" in r.message]
    assert len(warnings) == 1
    assert "vggish_model.ckpt" in warnings[0].message


def test_import_from_hub_style_saved_model(tmp_path, original_arrays, waveform):
    root = tf.train.Checkpoint()
    variables = [tf.Variable(value, name=name) for name, value in original_arrays.items()]
    root.variables = variables
    by_name = {v.name.split(":")[0]: v for v in variables}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def embed(samples):
        return reference_network(waveform_to_examples(samples), by_name)

    root.__call__ = embed
    export_dir = str(tmp_path / "vggish_1")
    tf.saved_model.save(root, export_dir)
    del root, variables, by_name

    import tensorflow_hub as hub

    check_vggish_weights(export_dir)  # what the job checks before any work
    expected = hub.load(export_dir)(waveform).numpy()
    model = build_vggish(weights=export_dir)
    actual = model(waveform_to_examples(waveform)).numpy()
    assert actual.shape == expected.shape == (2, 128)
    assert np.abs(expected).max() > 0.1
    assert np.max(np.abs(actual - expected)) < 1e-5


def test_import_from_tf1_v1_checkpoint(tmp_path, original_arrays, waveform):
    prefix = str(tmp_path / "vggish_model.ckpt")
    with tf.Graph().as_default():
        variables = [
            tf.compat.v1.get_variable(name, shape=value.shape, initializer=tf.zeros_initializer())
            for name, value in original_arrays.items()
        ]
        saver = tf.compat.v1.train.Saver(write_version=tf.compat.v1.train.SaverDef.V1)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            for variable, value in zip(variables, original_arrays.values()):
                variable.load(value, session)
            saver.save(session, prefix, write_meta_graph=False)

    patches = waveform_to_examples(waveform)
    expected = reference_network(patches, original_arrays).numpy()
    actual = build_vggish(weights=prefix)(patches).numpy()
    assert np.max(np.abs(actual - expected)) < 1e-5


def test_import_from_v2_checkpoint_prefix(tmp_path, original_arrays, waveform):
    prefix = str(tmp_path / "vggish_v2")
    names = list(original_arrays)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[original_arrays[n] for n in names],
    )
    check_vggish_weights(prefix)
    patches = waveform_to_examples(waveform)
    expected = reference_network(patches, original_arrays).numpy()
    actual = build_vggish(weights=prefix)(patches).numpy()
    assert np.max(np.abs(actual - expected)) < 1e-5


def test_bad_weight_sources_raise_clear_errors(tmp_path, original_arrays):
    with pytest.raises(VGGishWeightsError, match="no such file or directory"):
        build_vggish(weights=str(tmp_path / "nothing.ckpt"))
    with pytest.raises(VGGishWeightsError, match="holds no saved_model.pb"):
        build_vggish(weights=str(tmp_path))
    # A relative path that does not exist is not taken for a TF-Hub handle.
    with pytest.raises(VGGishWeightsError, match="no such file or directory"):
        check_vggish_weights("weights/vggish/vggish_model.ckpt")

    partial = {k: v for k, v in original_arrays.items() if "fc2" not in k}
    prefix = str(tmp_path / "partial")
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=list(partial),
        shape_and_slices=[""] * len(partial),
        tensors=list(partial.values()),
    )
    with pytest.raises(VGGishWeightsError, match="'vggish/fc2/weights' is missing"):
        build_vggish(weights=prefix)
    with pytest.raises(VGGishWeightsError, match="'vggish/fc2/weights' is missing"):
        check_vggish_weights(prefix)

    wrong = dict(original_arrays, **{"vggish/conv1/weights": np.zeros((3, 3, 2, 64), np.float32)})
    prefix = str(tmp_path / "wrong")
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=list(wrong),
        shape_and_slices=[""] * len(wrong),
        tensors=list(wrong.values()),
    )
    with pytest.raises(VGGishWeightsError, match="conv1/weights' has shape"):
        build_vggish(weights=prefix)
    with pytest.raises(VGGishWeightsError, match=r"conv1/weights' has shape \(3, 3, 2, 64\), expected \(3, 3, 1, 64\)"):
        check_vggish_weights(prefix)


def test_pca_postprocessor_matches_the_original_numpy_recipe(tmp_path):
    rng = np.random.default_rng(5)
    eigen_vectors = rng.standard_normal((128, 128)).astype(np.float32) * 0.2
    means = rng.standard_normal((128, 1)).astype(np.float32)
    pca_path = tmp_path / "vggish_pca_params.npz"
    np.savez(pca_path, pca_eigen_vectors=eigen_vectors, pca_means=means)

    model = build_vggish(pca_params=pca_path)
    raw_model = build_vggish()
    raw_model.set_weights(model.get_weights())
    patches = rng.normal(-2, 1, (3, 96, 64)).astype(np.float32)
    raw = raw_model(patches).numpy()

    # The original postprocessor: PCA, clip to [-2, 2], map to [0, 255], cast to uint8.
    projected = (eigen_vectors @ (raw.T - means)).T
    expected = ((np.clip(projected, -2, 2) + 2) * (255.0 / 4.0)).astype(np.uint8)
    actual = model(patches).numpy()
    assert actual.shape == (3, 128)
    # Float32 summation order may move a value across an integer step; allow that alone.
    difference = np.abs(actual - expected.astype(np.float32))
    assert difference.max() <= 1.0 and np.mean(difference == 0) > 0.99
    assert len(np.unique(expected)) > 10


def test_import_of_the_package_is_light():
    import subprocess
    import sys

    code = (
        "import sys, ser_keras; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported eagerly'; "
        "assert not any(m.startswith(('pytest', 'tests')) for m in sys.modules); "
        "print(sorted(ser_keras.__all__))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "build_vggish" in result.stdout
