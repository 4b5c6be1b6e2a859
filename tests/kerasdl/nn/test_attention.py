"""kerasdl.nn.attention against the NumPy reference (kerasdl.scratch.attention) and numerical gradients.

Layouts: Keras is row-major ([m, T_x, n_a] activations, kernels [in, out]); the reference is column-major
([n_a, m, T_x], W [out, in]). The attention's kernel is W_1 transposed, its first n_a rows acting on a<t'>.
"""

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn.attention import Attention, AttentionDecoder
from kerasdl.nn.autodiff import compiled, value_and_gradients
from kerasdl.scratch import attention as reference
from kerasdl.scratch import gradient_check, rnn
from tests.backends.gaps import KERAS_DEMOTES_FLOAT64, atol64, rtol64
from tests.backends.jacobians import compute_gradient
from tests.saving import reload

numpy = ops.convert_to_numpy
F64 = "float64"
M, T_X, N_A, N_S, UNITS = 3, 5, 4, 3, 6  # examples, input steps, encoder size (a<t'>), decoder state, hidden
LENGTHS = (5, 3, 1)  # a right-padded batch: example i has LENGTHS[i] real input steps
T_Y, VOCABULARY, EMBEDDING = 4, 7, 2


def _mask():
    return np.arange(T_X)[None, :] < np.array(LENGTHS)[:, None]


def _random_weights(layer, seed):
    rng = np.random.default_rng(seed)
    layer.set_weights([0.7 * rng.standard_normal(w.shape) for w in layer.get_weights()])


def _attention(energy_activation="relu", seed=1):
    layer = Attention(UNITS, energy_activation=energy_activation, dtype=F64)
    layer.build((None, N_S), (None, T_X, N_A))
    _random_weights(layer, seed)
    return layer


def _attention_parameters(kernel, bias, energy_kernel, energy_bias):
    return {"W1": kernel.T, "b1": bias[:, None], "W2": energy_kernel.T, "b2": energy_bias[:, None]}


def _assert_gradients_match(theoretical, numerical):
    for analytic, approx in zip(theoretical, numerical, strict=True):
        if KERAS_DEMOTES_FLOAT64:
            # Central differences (delta = 1/1024) of values rounded to float32 are good to ~1e-5 only,
            # too coarse for a relative difference of the smallest gradients.
            np.testing.assert_allclose(analytic, approx, rtol=1e-2, atol=1e-4)
        elif np.max(np.abs(approx)) < 1e-9:
            # b_2 with a linear energy: a softmax does not change when every energy moves by the same b_2.
            np.testing.assert_allclose(analytic, 0.0, atol=1e-9)
        else:
            assert gradient_check.relative_difference(analytic, approx) < 1e-6


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((M, N_S)), rng.standard_normal((M, T_X, N_A))


class TestAttention:
    @pytest.mark.parametrize("energy_activation", ["relu", "linear"])
    @pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
    def test_equals_the_numpy_reference(self, energy_activation, masked):
        layer = _attention(energy_activation)
        query, values = _inputs()
        mask = _mask() if masked else None
        context, alphas = layer(query, values, values_mask=mask, return_attention_scores=True)
        expected_context, expected_alphas = reference.attention_step(
            query.T,
            np.transpose(values, (2, 0, 1)),
            _attention_parameters(*layer.get_weights()),
            mask=mask,
            energy_activation=energy_activation,
        )
        tolerance = {"rtol": rtol64(1e-10), "atol": atol64(1e-12)}
        np.testing.assert_allclose(numpy(context), expected_context.T, **tolerance)
        np.testing.assert_allclose(numpy(alphas), expected_alphas.T, **tolerance)

    def test_weights_sum_to_one_over_the_input_and_skip_padding(self):
        query, values = _inputs()
        _, alphas = _attention()(query, values, values_mask=_mask(), return_attention_scores=True)
        alphas = numpy(alphas)
        np.testing.assert_allclose(alphas.sum(axis=1), 1.0, rtol=rtol64(1e-12))
        assert np.all(alphas[~_mask()] == 0.0) and np.all(alphas[_mask()] > 0.0)

    # Example 2 alone has one input step, where Keras warns that a softmax over one value is always 1.
    @pytest.mark.filterwarnings("ignore:You are using a softmax over axis -1")
    def test_padding_changes_nothing(self):
        # The context of a padded example equals that of the example alone, without its padding.
        layer = _attention("linear")
        query, values = _inputs()
        padded = numpy(layer(query, values, values_mask=_mask()))
        for i, length in enumerate(LENGTHS):
            alone = numpy(layer(query[i : i + 1], values[i : i + 1, :length]))
            np.testing.assert_allclose(padded[i : i + 1], alone, rtol=rtol64(1e-12), atol=atol64(1e-14))

    def test_gradients_equal_numerical_gradients(self):
        layer = _attention("linear")  # no kink of the ReLU next to a finite-difference step
        query, values = _inputs()
        upstream = np.random.default_rng(3).standard_normal((M, N_A))
        mask = ops.convert_to_tensor(_mask())

        @compiled
        def objective(query, values, *weights):
            context, _ = layer.stateless_call(list(weights), [], query, values, values_mask=mask)
            return ops.sum(ops.multiply(context, upstream))

        theoretical, numerical = compute_gradient(objective, [query, values, *layer.get_weights()])
        assert len(theoretical) == 2 + 4
        _assert_gradients_match(theoretical, numerical)

    def test_the_course_network_with_copied_weights(self):
        # The course's one_step_attention, from Keras' own layers: RepeatVector, Concatenate, Dense(tanh),
        # Dense(relu), a softmax over the time axis and a dot product.
        layer = _attention("relu")
        query, values = _inputs()
        s_prev, a = keras.Input((N_S,), dtype=F64), keras.Input((T_X, N_A), dtype=F64)
        repeated = keras.layers.RepeatVector(T_X, dtype=F64)(s_prev)
        concat = keras.layers.Concatenate(axis=-1, dtype=F64)([a, repeated])
        densor1 = keras.layers.Dense(UNITS, activation="tanh", dtype=F64)
        densor2 = keras.layers.Dense(1, activation="relu", dtype=F64)
        alphas = keras.layers.Softmax(axis=1, dtype=F64)(densor2(densor1(concat)))
        context = keras.layers.Dot(axes=1, dtype=F64)([alphas, a])
        course = keras.Model([s_prev, a], keras.layers.Flatten(dtype=F64)(context))
        kernel, bias, energy_kernel, energy_bias = layer.get_weights()
        densor1.set_weights([kernel, bias])
        densor2.set_weights([energy_kernel, energy_bias])
        np.testing.assert_allclose(
            numpy(layer(query, values)), numpy(course([query, values])), rtol=rtol64(1e-10), atol=atol64(0)
        )

    def test_round_trips_through_the_safe_loader(self, tmp_path):
        query, values = keras.Input((N_S,)), keras.Input((T_X, N_A))
        model = keras.Model([query, values], Attention(UNITS, energy_activation="linear")(query, values))
        _random_weights(model, 4)
        loaded = reload(model, tmp_path)
        inputs = [x.astype("float32") for x in _inputs()]
        np.testing.assert_allclose(numpy(loaded(inputs)), numpy(model(inputs)), rtol=1e-6)
        assert loaded.layers[-1].get_config()["energy_activation"] == "linear"

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"units": 0}, "units must be a positive integer. Received: units=0"),
            ({"units": 2.5}, "units must be a positive integer. Received: units=2.5"),
            ({"energy_activation": "nope"}, "nope"),
        ],
    )
    def test_bad_arguments(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            Attention(**kwargs)


def _decoder(teacher_forcing=True, seed=5):
    layer = AttentionDecoder(
        N_S,
        VOCABULARY,
        embedding_size=EMBEDDING if teacher_forcing else 0,
        attention_units=UNITS,
        energy_activation="linear",
        dtype=F64,
    )
    layer.build((None, T_X, N_A), (None, T_Y))
    _random_weights(layer, seed)
    return layer


def _decoder_parameters(layer) -> dict:
    """The decoder's weights in the reference's names and layout."""
    attention = layer.attention
    parameters = _attention_parameters(*(w.numpy() for w in attention.weights))
    cell = layer.cell
    parameters |= rnn.gate_parameters(
        cell.kernel.numpy(), cell.recurrent_kernel.numpy(), cell.bias.numpy(), ("u", "f", "c", "o")
    )
    if layer.embedding is not None:
        parameters["E"] = layer.embedding.embeddings.numpy().T
    kernel, bias = layer.output_layer.get_weights()
    return parameters | {"Wy": kernel.T, "by": bias[:, None]}


def _previous_tokens(seed=6):
    return np.random.default_rng(seed).integers(0, VOCABULARY, (M, T_Y))


class TestAttentionDecoder:
    @pytest.mark.parametrize("teacher_forcing", [True, False], ids=["teacher_forcing", "course"])
    def test_equals_the_numpy_reference(self, teacher_forcing):
        layer = _decoder(teacher_forcing)
        _, values = _inputs()
        previous = _previous_tokens()
        logits, alphas = layer(values, previous, encoded_mask=_mask(), return_attention_scores=True)
        expected_logits, expected_alphas = reference.attention_decoder_forward(
            np.transpose(values, (2, 0, 1)),
            previous if teacher_forcing else None,
            _decoder_parameters(layer),
            steps=T_Y,
            mask=_mask(),
            energy_activation="linear",
        )
        tolerance = {"rtol": rtol64(1e-10), "atol": atol64(1e-12)}
        np.testing.assert_allclose(numpy(logits), np.transpose(expected_logits, (1, 2, 0)), **tolerance)
        np.testing.assert_allclose(numpy(alphas), np.transpose(expected_alphas, (2, 0, 1)), **tolerance)

    def test_the_course_decoder_ignores_the_previous_tokens(self):
        layer = _decoder(teacher_forcing=False)
        _, values = _inputs()
        np.testing.assert_array_equal(
            numpy(layer(values, _previous_tokens(1))), numpy(layer(values, _previous_tokens(2)))
        )

    def test_steps_one_at_a_time_equal_the_whole_call(self):
        # Decoding calls `step` once per token; training calls the layer once: the same numbers.
        layer = _decoder()
        _, values = _inputs()
        previous, mask = _previous_tokens(), _mask()
        whole = numpy(layer(values, previous, encoded_mask=mask))
        prepared, states = layer.prepare(values), layer.initial_state(M)
        for t in range(T_Y):
            logits, states, _ = layer.step(values, prepared, previous[:, t], states, mask)
            np.testing.assert_allclose(numpy(logits), whole[:, t], rtol=rtol64(1e-12), atol=atol64(1e-14))

    def test_decoding_steps_compute_in_the_mixed_precision_dtype(self):
        # `prepare` and `step` run outside `__call__` while decoding: the float32 weights are cast anyway.
        layer = AttentionDecoder(N_S, VOCABULARY, embedding_size=EMBEDDING, dtype="mixed_bfloat16")
        layer.build((None, T_X, N_A), (None, T_Y))
        values = ops.cast(_inputs()[1], "bfloat16")
        first = ops.zeros((M,), "int32")
        logits, states, alphas = layer.step(values, layer.prepare(values), first, layer.initial_state(M))
        dtypes = {keras.backend.standardize_dtype(x.dtype) for x in (logits, *states, alphas)}
        assert dtypes == {"bfloat16"}
        whole = layer(values, ops.zeros((M, 1), "int32"))
        # bfloat16 keeps 8 bits: the loop of `call` and a lone step may round differently.
        np.testing.assert_allclose(
            numpy(ops.cast(logits, "float32")), numpy(ops.cast(whole[:, 0], "float32")), rtol=2e-2, atol=2e-3
        )

    def test_gradients_equal_numerical_gradients(self):
        # A smaller decoder than the other tests': every weight is perturbed twice.
        layer = AttentionDecoder(
            2, 3, embedding_size=1, attention_units=2, energy_activation="linear", dtype=F64
        )
        layer.build((None, 3, 2), (None, 2))
        _random_weights(layer, 5)
        rng = np.random.default_rng(7)
        values, upstream = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 2, 3))
        previous = ops.convert_to_tensor(rng.integers(0, 3, (2, 2)))
        mask = ops.convert_to_tensor(np.array([[True, True, True], [True, True, False]]))

        @compiled
        def objective(values, *weights):
            logits, _ = layer.stateless_call(list(weights), [], values, previous, encoded_mask=mask)
            return ops.sum(ops.multiply(logits, upstream))

        theoretical, numerical = compute_gradient(objective, [values, *layer.get_weights()])
        assert len(theoretical) == 1 + len(layer.weights)
        _assert_gradients_match(theoretical, numerical)

    def test_an_encoder_decoder_trains_and_round_trips_through_the_safe_loader(self, tmp_path):
        keras.utils.set_random_seed(0)
        source = keras.Input((None,), dtype="int32")
        previous = keras.Input((None,), dtype="int32")
        # No mask_zero: Keras records its mask as a NotEqual op node, which the safe loader refuses.
        x = keras.layers.Embedding(9, 3)(source)
        encoded = keras.layers.Bidirectional(keras.layers.LSTM(2, return_sequences=True))(x)
        logits = AttentionDecoder(N_S, VOCABULARY, embedding_size=EMBEDDING, attention_units=UNITS)(
            encoded, previous
        )
        model = keras.Model([source, previous], logits)
        rng = np.random.default_rng(8)
        inputs = [
            rng.integers(1, 9, (4, 6)).astype("int32"),
            rng.integers(0, VOCABULARY, (4, T_Y)).astype("int32"),
        ]
        targets = rng.integers(0, VOCABULARY, (4, T_Y))
        loss_function = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        optimizer = keras.optimizers.Adam(0.05)

        seed_state = [variable.value for variable in model.non_trainable_variables]  # the LSTM's dropout

        def loss(*weights):
            outputs, _ = model.stateless_call(list(weights), seed_state, inputs)
            return loss_function(targets, outputs)

        losses = []
        for _ in range(2):  # eager steps: tracing a train_function would take seconds
            value, gradients = value_and_gradients(loss, [w.numpy() for w in model.trainable_variables])
            optimizer.apply([ops.convert_to_tensor(g) for g in gradients], model.trainable_variables)
            losses.append(float(value))
        assert losses[-1] < losses[0]
        loaded = reload(model, tmp_path)
        np.testing.assert_allclose(numpy(loaded(inputs)), numpy(model(inputs)), rtol=1e-5, atol=1e-6)
        decoder = loaded.layers[-1]
        assert isinstance(decoder, AttentionDecoder) and decoder.get_config()["embedding_size"] == EMBEDDING

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"units": 0}, "units must be a positive integer. Received: units=0"),
            (
                {"vocabulary_size": -1},
                "vocabulary_size must be a positive integer. Received: vocabulary_size=-1",
            ),
            ({"embedding_size": -1}, "embedding_size must be an integer >= 0. Received: embedding_size=-1"),
            (
                {"attention_units": 0},
                "attention_units must be a positive integer. Received: attention_units=0",
            ),
        ],
    )
    def test_bad_arguments(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            AttentionDecoder(**{"units": 4, "vocabulary_size": 5, **kwargs})
