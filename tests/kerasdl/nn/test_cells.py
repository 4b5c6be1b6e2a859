"""kerasdl.nn.cells against the Keras built-ins (copied weights), the NumPy reference and numerical gradients.

Layouts: Keras steps are row-major, [m, T_x, n] sequences; kerasdl.scratch.rnn is column-major,
[n, m, T_x]. A cell's kernel block g is the lesson's W_g[:, n_a:]^T and its recurrent kernel block
W_g[:, :n_a]^T (kerasdl.scratch.rnn.gate_parameters does the conversion).
"""

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn.autodiff import compiled, value_and_gradients
from kerasdl.nn.cells import GRUCell, LSTMCell, SimpleRNNCell
from kerasdl.scratch import gradient_check, rnn
from tests.backends.gaps import KERAS_DEMOTES_FLOAT64, KERAS_TANH_IS_FLOAT32, atol64, rtol64
from tests.backends.jacobians import compute_gradient
from tests.saving import reload

numpy = ops.convert_to_numpy

N_X, N_A, T_X = 3, 4, 5
LENGTHS = (5, 3, 1)  # a right-padded batch: sequence i has LENGTHS[i] real steps
BATCH = len(LENGTHS)
F64 = "float64"

CELLS = {  # variant: a fresh float64 cell
    "simple_rnn": lambda: SimpleRNNCell(N_A, dtype=F64),
    "simple_rnn_relu": lambda: SimpleRNNCell(N_A, activation="relu", dtype=F64),
    "gru": lambda: GRUCell(N_A, dtype=F64),
    "gru_simplified": lambda: GRUCell(N_A, relevance_gate=False, dtype=F64),
    "lstm": lambda: LSTMCell(N_A, dtype=F64),
    "lstm_peephole": lambda: LSTMCell(N_A, peephole=True, dtype=F64),
}


def _negate_update_block(weight):
    """Keras' GRU z block from our u block: z = 1 - G_u = sigmoid(-(...)), so the block is negated."""
    weight = np.array(weight)
    weight[..., :N_A] *= -1
    return weight


def _same(weight):
    return np.array(weight)


# variant: (the Keras built-in layer, how each of our weights or gradients maps onto Keras' one)
KERAS_TWINS = {
    "simple_rnn": (lambda: keras.layers.SimpleRNN(N_A, return_sequences=True, dtype=F64), _same),
    # The lesson's G_r multiplies c<t-1> before the matrix product: Keras' reset_after=False.
    "gru": (
        lambda: keras.layers.GRU(N_A, return_sequences=True, reset_after=False, dtype=F64),
        _negate_update_block,
    ),
    # Keras LSTM columns [i, f, c, o] are the lesson's [G_u, G_f, c~, G_o]: the same layout.
    "lstm": (lambda: keras.layers.LSTM(N_A, return_sequences=True, dtype=F64), _same),
}


def _inputs(seed=0, m=BATCH):
    return np.random.default_rng(seed).standard_normal((m, T_X, N_X))


def _mask():
    return np.arange(T_X)[None, :] < np.array(LENGTHS)[:, None]


def _layer(variant, seed=1, **rnn_kwargs):
    """keras.layers.RNN around a fresh cell, built, with random weights of scale 0.5."""
    layer = keras.layers.RNN(CELLS[variant](), dtype=F64, **rnn_kwargs)
    layer.build((None, T_X, N_X))
    rng = np.random.default_rng(seed)
    layer.set_weights([0.5 * rng.standard_normal(w.shape) for w in layer.get_weights()])
    return layer


def _reference(variant, weights, x):
    """The NumPy reference's hidden states for our weights, as Keras' [m, T_x, n_a]."""
    kernel, recurrent_kernel, bias = weights[:3]
    x_columns = np.transpose(x, (2, 0, 1))
    a0 = np.zeros((N_A, x.shape[0]))
    if variant.startswith("simple_rnn"):
        parameters = {"Wax": kernel.T, "Waa": recurrent_kernel.T, "ba": bias[:, None]}
        a, _ = rnn.rnn_forward(x_columns, a0, parameters, "relu" if variant.endswith("relu") else "tanh")
    elif variant.startswith("gru"):
        gates = ("u", "r", "c") if variant == "gru" else ("u", "c")
        a, _ = rnn.gru_forward(x_columns, a0, rnn.gate_parameters(kernel, recurrent_kernel, bias, gates))
    else:
        parameters = rnn.gate_parameters(kernel, recurrent_kernel, bias, ("u", "f", "c", "o"))
        parameters |= {key: w[:, None] for key, w in zip(rnn.PEEPHOLES, weights[3:], strict=False)}
        a, _, _ = rnn.lstm_forward(x_columns, a0, parameters)
    return np.transpose(a, (1, 2, 0))


def _outputs_and_gradients(layer, x, upstream, mask=None):
    """Outputs, and the gradients of sum(outputs * upstream) w.r.t. the inputs and every weight."""
    mask = None if mask is None else ops.convert_to_tensor(mask)
    seed_state = [variable.value for variable in layer.non_trainable_variables]  # the built-ins' dropout

    def objective(x, *weights):
        outputs, _ = layer.stateless_call(list(weights), seed_state, x, mask=mask)
        return ops.sum(ops.multiply(outputs, upstream))

    _, (d_x, *d_weights) = value_and_gradients(objective, [x, *layer.get_weights()])
    return numpy(layer(x, mask=mask)), d_x, d_weights


class TestAgainstKeras:
    @pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
    @pytest.mark.parametrize("variant", list(KERAS_TWINS))
    def test_outputs_and_gradients_equal_the_builtin_with_copied_weights(self, variant, masked):
        if variant == "simple_rnn" and KERAS_TANH_IS_FLOAT32:
            pytest.skip(
                "keras.layers.SimpleRNN(dtype='float64') fails here: Keras' tanh is float32 (gaps.py)"
            )
        ours = _layer(variant, return_sequences=True)
        make_theirs, to_keras = KERAS_TWINS[variant]
        theirs = make_theirs()
        theirs.build((None, T_X, N_X))
        theirs.set_weights([to_keras(w) for w in ours.get_weights()])
        x, mask = _inputs(), _mask() if masked else None
        upstream = np.random.default_rng(2).standard_normal((BATCH, T_X, N_A))

        out, d_x, d_weights = _outputs_and_gradients(ours, x, upstream, mask)
        out_keras, d_x_keras, d_weights_keras = _outputs_and_gradients(theirs, x, upstream, mask)
        rtol, atol = rtol64(1e-10), atol64(1e-12)  # tanh, matmul: float32 outside TensorFlow (gaps.py)
        np.testing.assert_allclose(out, out_keras, rtol=rtol, atol=atol)
        np.testing.assert_allclose(d_x, d_x_keras, rtol=rtol, atol=atol)
        assert len(d_weights) == len(d_weights_keras) == 3
        for ours_grad, keras_grad in zip(d_weights, d_weights_keras, strict=True):
            np.testing.assert_allclose(to_keras(ours_grad), keras_grad, rtol=rtol, atol=atol)

    def test_lstm_initial_weights_follow_keras(self):
        # unit_forget_bias: b_f starts at 1 like Keras'; zero peepholes start as the plain LSTM.
        plain, peephole = _layer("lstm"), keras.layers.RNN(LSTMCell(N_A, peephole=True, dtype=F64), dtype=F64)
        peephole.build((None, T_X, N_X))
        np.testing.assert_array_equal(peephole.cell.bias.numpy(), np.repeat([0.0, 1.0, 0.0, 0.0], N_A))
        peephole.set_weights(plain.get_weights() + [np.zeros(N_A)] * 3)
        np.testing.assert_array_equal(numpy(peephole(_inputs())), numpy(plain(_inputs())))


class TestAgainstReference:
    @pytest.mark.parametrize("variant", list(CELLS))
    def test_equals_the_numpy_reference(self, variant):
        layer = _layer(variant, return_sequences=True)
        x = _inputs()
        np.testing.assert_allclose(
            numpy(layer(x)),
            _reference(variant, layer.get_weights(), x),
            rtol=rtol64(1e-10),
            atol=atol64(1e-12),
        )

    @pytest.mark.parametrize("variant", ["gru_simplified", "lstm_peephole"])
    def test_gradients_equal_numerical_gradients(self, variant):
        # Keras has neither cell, so their gradients are checked against finite differences.
        layer = _layer(variant, return_sequences=True)
        upstream = np.random.default_rng(3).standard_normal((2, T_X, N_A))

        @compiled
        def objective(x, *weights):
            outputs, _ = layer.stateless_call(list(weights), [], x)
            return ops.sum(ops.multiply(outputs, upstream))

        theoretical, numerical = compute_gradient(objective, [_inputs(m=2), *layer.get_weights()])
        assert len(theoretical) == 1 + len(layer.weights)
        for analytic, approx in zip(theoretical, numerical, strict=True):
            # Central differences (delta = 1/1024) of values rounded to float32 are good to ~1e-4 only.
            assert gradient_check.relative_difference(analytic, approx) < (
                1e-3 if KERAS_DEMOTES_FLOAT64 else 1e-6
            )


class TestMasking:
    @pytest.mark.parametrize("variant", list(CELLS))
    def test_masked_padded_batch_ends_in_the_unpadded_final_states(self, variant):
        # keras-team/keras#11472: masking must carry every state (c<t> too), not just the output.
        layer = _layer(variant, return_state=True)
        x = _inputs() * _mask()[..., None]  # zero padding, masked by keras.layers.Masking
        inputs = keras.Input((T_X, N_X), dtype=F64)
        model = keras.Model(inputs, layer(keras.layers.Masking(0.0, dtype=F64)(inputs)))
        padded = [numpy(s) for s in model(x)]
        for i, length in enumerate(LENGTHS):
            alone = [numpy(s) for s in layer(x[i : i + 1, :length])]
            assert len(alone) == len(padded) == 1 + len(keras.tree.flatten(layer.cell.state_size))
            for state, state_alone in zip(padded, alone, strict=True):
                np.testing.assert_allclose(state[i : i + 1], state_alone, rtol=rtol64(1e-12), atol=atol64(0))

    def test_masked_steps_repeat_the_last_output(self):
        layer = _layer("lstm", return_sequences=True)
        out = numpy(layer(_inputs(), mask=_mask()))
        np.testing.assert_array_equal(out[1, 3:], np.repeat(out[1, 2:3], 2, axis=0))


class TestRecipes:
    def test_bidirectional_masked_equals_each_sequence_alone(self):
        # The backward direction of a right-padded batch must start at each sequence's last real step.
        bidirectional = keras.layers.Bidirectional(keras.layers.RNN(LSTMCell(N_A, dtype=F64), dtype=F64))
        bidirectional.build((None, T_X, N_X))
        rng = np.random.default_rng(4)
        bidirectional.set_weights([0.5 * rng.standard_normal(w.shape) for w in bidirectional.get_weights()])
        x = _inputs()
        out = numpy(bidirectional(x, mask=_mask()))
        assert out.shape == (BATCH, 2 * N_A)
        for i, length in enumerate(LENGTHS):
            np.testing.assert_allclose(
                out[i : i + 1], numpy(bidirectional(x[i : i + 1, :length])), rtol=1e-12
            )

    def test_deep_rnn_from_a_list_of_cells_equals_stacked_builtins(self):
        # A plain list of cells would be wrapped in a float32 StackedRNNCells; float64 needs it spelled out.
        cells = keras.layers.StackedRNNCells([LSTMCell(N_A, dtype=F64), GRUCell(N_A, dtype=F64)], dtype=F64)
        deep = keras.layers.RNN(cells, return_sequences=True, dtype=F64)
        deep.build((None, T_X, N_X))
        rng = np.random.default_rng(5)
        weights = [0.5 * rng.standard_normal(w.shape) for w in deep.get_weights()]
        deep.set_weights(weights)
        lstm = keras.layers.LSTM(N_A, return_sequences=True, dtype=F64)
        gru = keras.layers.GRU(N_A, return_sequences=True, reset_after=False, dtype=F64)
        lstm.build((None, T_X, N_X))
        gru.build((None, T_X, N_A))
        lstm.set_weights(weights[:3])
        gru.set_weights([_negate_update_block(w) for w in weights[3:]])
        x, mask = _inputs(), _mask()
        stacked = gru(lstm(x, mask=mask), mask=mask)
        np.testing.assert_allclose(
            numpy(deep(x, mask=mask)), numpy(stacked), rtol=rtol64(1e-10), atol=atol64(0)
        )


def _model_with_every_cell() -> keras.Model:
    """Every cell and option in one model: bidirectional, a deep list of cells, a plain layer."""
    return keras.Sequential(
        [
            keras.Input((T_X, N_X)),
            keras.layers.Bidirectional(
                keras.layers.RNN(LSTMCell(3, peephole=True, unit_forget_bias=False), return_sequences=True)
            ),
            keras.layers.RNN(
                [GRUCell(3), GRUCell(3, relevance_gate=False), LSTMCell(3)], return_sequences=True
            ),
            keras.layers.RNN(SimpleRNNCell(3, activation="relu", use_bias=False)),
            keras.layers.Dense(1),
        ]
    )


def _cells(model):
    found = []
    for layer in model._flatten_layers():
        if isinstance(layer, SimpleRNNCell | GRUCell | LSTMCell):
            found.append(layer)
    return found


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    x = _inputs(m=16).astype("float32")
    y = x.sum(axis=(1, 2))[:, None]
    model = _model_with_every_cell()
    optimizer = keras.optimizers.Adam(0.01)
    non_trainable = [variable.value for variable in model.non_trainable_variables]

    @compiled
    def loss(*weights):
        outputs, _ = model.stateless_call(list(weights), non_trainable, x, training=True)
        return ops.mean(ops.square(ops.subtract(outputs, y)))

    losses = []
    for _ in range(5):  # eager training steps: tracing a train_function of six cells would take seconds
        value, gradients = value_and_gradients(loss, [w.numpy() for w in model.trainable_variables])
        optimizer.apply([ops.convert_to_tensor(g) for g in gradients], model.trainable_variables)
        losses.append(float(value))
    return model, x, losses


class TestSerialization:
    def test_training_step_lowers_the_loss(self, trained):
        _, _, losses = trained
        assert losses[-1] < losses[0]

    def _check_loaded(self, model, loaded, x):
        np.testing.assert_allclose(numpy(loaded(x)), numpy(model(x)), rtol=1e-6)
        assert [type(c) for c in _cells(loaded)] == [type(c) for c in _cells(model)]
        assert len(_cells(model)) == 6  # forward and backward LSTM, the three stacked cells, the simple RNN
        for ours, theirs in zip(_cells(model), _cells(loaded), strict=True):
            assert ours.get_config() == theirs.get_config()

    def test_keras_round_trip(self, trained, tmp_path):
        model, x, _ = trained
        model.save(tmp_path / "model.keras")
        self._check_loaded(model, keras.saving.load_model(tmp_path / "model.keras", safe_mode=True), x)

    def test_kerasdl_safe_loader_round_trip(self, trained, tmp_path):
        model, x, _ = trained
        self._check_loaded(model, reload(model, tmp_path), x)


class TestArguments:
    @pytest.mark.parametrize("units", [0, -3, 2.5, True])
    @pytest.mark.parametrize("cls", [SimpleRNNCell, GRUCell, LSTMCell])
    def test_bad_units(self, cls, units):
        with pytest.raises(ValueError, match="units must be a positive integer. Received: units="):
            cls(units)

    @pytest.mark.parametrize("cls", [SimpleRNNCell, GRUCell, LSTMCell])
    def test_bad_use_bias(self, cls):
        with pytest.raises(ValueError, match="use_bias must be True or False. Received: use_bias='no'"):
            cls(4, use_bias="no")

    def test_bad_relevance_gate(self):
        with pytest.raises(
            ValueError, match="relevance_gate must be True or False. Received: relevance_gate=1"
        ):
            GRUCell(4, relevance_gate=1)

    def test_bad_peephole(self):
        with pytest.raises(ValueError, match="peephole must be True or False. Received: peephole='yes'"):
            LSTMCell(4, peephole="yes")

    def test_bad_unit_forget_bias(self):
        with pytest.raises(
            ValueError, match="unit_forget_bias must be True or False. Received: unit_forget_bias=None"
        ):
            LSTMCell(4, unit_forget_bias=None)

    def test_unknown_input_size(self):
        with pytest.raises(
            ValueError, match=r"The last input dimension must be known. Received: input_shape=\(2, None\)"
        ):
            LSTMCell(4).build((2, None))
