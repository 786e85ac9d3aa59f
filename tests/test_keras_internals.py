"""Each shim of ser_keras/keras_internals.py against the installed Keras and keras-hub.

A failure here after an upgrade names the installed versions: the shim relies on
something that Keras or keras-hub changed. Adapt the shim, or keep the pin in setup.cfg.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from ser_keras import keras_internals
from ser_keras.keras_internals import (
    KerasInternalsError,
    check_symbolic_build_hook,
    installed_versions,
    preset_backbone,
    seed_generator_states,
    set_seed_generator_counter,
    set_seed_generator_seed,
)
from ser_keras.text.presets import minilm_preset_dir
from ser_keras.training import MultiReplicaModel


def broken(what):
    """The failure message: what broke and with which versions."""
    return f"{what} with {installed_versions()} (ser_keras/keras_internals.py checked against Keras {keras_internals.CHECKED_KERAS})"


def test_the_failure_message_names_the_installed_keras_version():
    assert f"Keras {keras.version()}" in installed_versions()
    assert f"keras-hub {keras_hub.__version__}" in installed_versions()
    assert f"Keras {keras.version()}" in str(KerasInternalsError("something changed"))


def test_keras_trainer_has_the_symbolic_build_hook():
    try:
        check_symbolic_build_hook()
    except KerasInternalsError as error:
        pytest.fail(str(error))


def bool_input_model():
    inputs = keras.Input((3,), dtype="bool", name="mask")
    return MultiReplicaModel(inputs, keras.layers.Dense(2)(keras.ops.cast(inputs, "float32")))


def test_fit_under_a_strategy_builds_through_the_override(monkeypatch):
    # Keras must call the overridden hook, with an epoch iterator of (begin, end, batches), before the first step.
    seen = []
    original = keras_internals._first_local_replica

    def recording(epoch_iterator, strategy):
        for begin_step, end_step, batches in original(epoch_iterator, strategy):
            yield begin_step, end_step, (seen.append(batch) or batch for batch in batches)

    monkeypatch.setattr(keras_internals, "_first_local_replica", recording)
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        model = bool_input_model()
        model.compile(optimizer="sgd", loss="mse")
    data = tf.data.Dataset.from_tensor_slices((np.ones((4, 3), bool), np.zeros((4, 2), "float32"))).batch(4)
    model.fit(data, epochs=1, verbose=0)

    assert seen, broken("fit under a strategy no longer calls the symbolic-build hook LocalReplicaSymbolicBuild overrides")
    mask, target = seen[0]
    assert (mask.dtype, tuple(mask.shape), tuple(target.shape)) == (tf.bool, (4, 3), (4, 2)), broken(
        "the symbolic build got another batch than the first one of the data"
    )


TWO_REPLICAS = textwrap.dedent("""
    import tensorflow as tf
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    from ser_keras import keras_internals
    from ser_keras.training import MultiReplicaModel

    seen = []
    original = keras_internals._first_local_replica
    def recording(epoch_iterator, strategy):
        for begin_step, end_step, batches in original(epoch_iterator, strategy):
            yield begin_step, end_step, (seen.append(batch) or batch for batch in batches)
    keras_internals._first_local_replica = recording

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        inputs = keras.Input((3,), dtype="bool", name="mask")
        model = MultiReplicaModel(inputs, keras.layers.Dense(2)(keras.ops.cast(inputs, "float32")))
        model.compile(optimizer="sgd", loss="mse")
    data = tf.data.Dataset.from_tensor_slices((np.ones((4, 3), bool), np.ones((4, 2), "float32"))).batch(4)
    history = model.fit(data, epochs=2, verbose=0)
    mask, _ = seen[0]
    print("RESULT", strategy.num_replicas_in_sync, mask.dtype.name, mask.shape[0], len(history.history["loss"]))
""")


def test_two_replicas_fit_a_bool_input_model():
    # Keras alone averages the first distributed batch across the replicas, which fails for bool inputs.
    completed = subprocess.run(
        [sys.executable, "-c", TWO_REPLICAS], capture_output=True, text=True, timeout=180, check=False,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    result = [line.split()[1:] for line in completed.stdout.splitlines() if line.startswith("RESULT")]
    assert completed.returncode == 0 and result, broken(
        "a two-replica fit of a bool-input MultiReplicaModel failed"
    ) + ":\n" + completed.stderr[-3000:]
    # Two replicas; Keras built the model from one replica's share (2 of the 4 examples), as booleans.
    assert result[0] == ["2", "bool", "2", "2"], broken(f"the symbolic build saw {result[0]}")


def test_seed_generator_states_are_found_and_their_counter_sets_the_masks():
    inner = keras_hub.layers.TransformerEncoder(intermediate_dim=8, num_heads=1, dropout=0.5)
    inputs = keras.Input((4, 4))
    model = keras.Model(inputs, keras.layers.Dropout(0.5, seed=7)(inner(inputs)))
    states = seed_generator_states(model)
    # The Dropout's own generator and those nested in keras-hub's encoder.
    assert len(states) >= 2, broken(f"seed_generator_states found {len(states)} generator states")
    (own,) = [state for state in states if int(state.numpy()[0]) == 7]
    assert own.numpy().tolist() == [7, 0], broken(f"a new SeedGenerator(7) holds {own.numpy().tolist()}, not [7, 0]")

    values = np.ones((1, 4, 4), "float32")
    model(values, training=True)
    assert own.numpy().tolist() == [7, 1], broken(f"a draw left the state at {own.numpy().tolist()}, not [seed, counter + 1]")

    masks = []
    for counter in (5, 5, 6):
        for state in states:
            set_seed_generator_counter(state, counter)
        masks.append(np.asarray(model(values, training=True)))
    assert own.numpy().tolist() == [7, 7], broken("set_seed_generator_counter did not keep the seed")
    np.testing.assert_array_equal(masks[0], masks[1], err_msg=broken("the same counter gave other dropout masks"))
    assert not np.array_equal(masks[0], masks[2]), broken("another counter gave the same dropout masks")

    for seed in (11, 11, 12):  # the same counter, the seed set: the seed alone picks the masks
        for state in states:
            set_seed_generator_seed(state, seed)
            set_seed_generator_counter(state, 5)
        masks.append(np.asarray(model(values, training=True)))
    assert own.numpy().tolist() == [12, 6], broken("set_seed_generator_seed did not keep the counter")
    np.testing.assert_array_equal(masks[3], masks[4], err_msg=broken("the same seed gave other dropout masks"))
    assert not np.array_equal(masks[3], masks[5]), broken("another seed gave the same dropout masks")
    assert not np.array_equal(masks[0], masks[3]), broken("a new seed left the dropout masks as they were")


def test_preset_backbone_reads_hugging_face_and_keras_hub_configs(tmp_path):
    found = preset_backbone(minilm_preset_dir())
    assert found is not None, broken("keras_hub.src.utils.preset_utils.get_preset_loader is gone")
    backbone_class, config = found
    assert backbone_class is keras_hub.models.BertBackbone, broken(f"the MiniLM directory gave {backbone_class}")
    assert config["num_hidden_layers"] == 6, broken("the loader's config is not the directory's config.json")

    for name, expected in (("BertBackbone", keras_hub.models.BertBackbone), ("GPT2Backbone", keras_hub.models.GPT2Backbone)):
        preset = tmp_path / name
        preset.mkdir()
        (preset / "config.json").write_text(json.dumps(
            {"module": "keras_hub.src.models", "class_name": name, "registered_name": f"keras_hub>{name}",
             "config": {"num_layers": 2}}
        ))
        backbone_class, config = preset_backbone(str(preset))
        assert backbone_class is expected, broken(f"a keras-hub {name} config gave {backbone_class}")
        assert config["config"]["num_layers"] == 2


def test_optimizer_variable_index_finds_each_built_variable():
    from ser_keras.keras_internals import installed_versions, optimizer_variable_index

    optimizer = keras.optimizers.AdamW()
    variables = [keras.Variable(np.zeros(2, "float32")) for _ in range(3)]
    optimizer.build(variables)
    found = [optimizer_variable_index(optimizer, variable) for variable in variables]
    assert found == [0, 1, 2], f"optimizer_variable_index broke with {installed_versions()}"
