"""The NumPy RNN, GRU and LSTM: BPTT gradient-checked; forwards against Keras and the lesson's formulas."""

import keras
import numpy as np
import pytest

from kerasdl.scratch import gradient_check, rnn
from tests.backends.gaps import KERAS_TANH_IS_FLOAT32, atol64, rtol64

N_X, N_A, M, T_X = 3, 4, 5, 6
LSTM_GATES = ("u", "f", "c", "o")


def _rng(seed=0):
    return np.random.default_rng(seed)


def _gate_parameters(gates, seed=0, scale=0.5):
    rng = _rng(seed)
    parameters = {}
    for g in gates:
        parameters[f"W{g}"] = scale * rng.standard_normal((N_A, N_A + N_X))
        parameters[f"b{g}"] = scale * rng.standard_normal((N_A, 1))
    return parameters


def _sequence(seed=1):
    return _rng(seed).standard_normal((N_X, M, T_X))


def _keras_sequences(layer, x, initial_state=None):
    """Runs a Keras recurrent layer on the column-major x [n_x, m, T_x]; returns [n_a, m, T_x]."""
    out = layer(np.transpose(x, (1, 2, 0)), initial_state=initial_state)
    return np.transpose(keras.ops.convert_to_numpy(out), (2, 0, 1))


def _rnn_parameters(seed=3):
    rng = _rng(seed)
    return {
        "Wax": rng.standard_normal((N_A, N_X)),
        "Waa": 0.5 * rng.standard_normal((N_A, N_A)),
        "ba": rng.standard_normal((N_A, 1)),
    }


class TestRNNBackward:
    def _check(self, activation, break_bptt=False):
        rng = _rng(2)
        parameters = {
            "Wax": rng.standard_normal((N_A, N_X)),
            "Waa": 0.5 * rng.standard_normal((N_A, N_A)),
            "ba": 0.1 * rng.standard_normal((N_A, 1)),
            "x": _sequence(),
            "a0": rng.standard_normal((N_A, M)),
        }
        upstream = rng.standard_normal((N_A, M, T_X))  # dJ/da<t> from above: J = sum(a * upstream)

        def cost(p):
            a, _ = rnn.rnn_forward(p["x"], p["a0"], p, activation)
            return float(np.sum(a * upstream))

        _, caches = rnn.rnn_forward(parameters["x"], parameters["a0"], parameters, activation)
        grads = rnn.rnn_backward(upstream, caches)
        if break_bptt:  # truncate BPTT to one step: no gradient flows back from a<t+1> into a<t>
            steps = [rnn.rnn_cell_backward(upstream[:, :, t], caches[t]) for t in range(T_X)]
            grads = {
                "dx": np.stack([s["dxt"] for s in steps], axis=-1),
                "da0": steps[0]["da_prev"],
                **{key: sum(s[key] for s in steps) for key in ("dWax", "dWaa", "dba")},
            }
        # x and a0 ride along as "parameters", so one check covers dx and da0 as well.
        return gradient_check.gradient_check(cost, parameters, grads)

    @pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
    def test_gradient_check(self, activation):
        result = self._check(activation)
        assert result.difference < 1e-7, str(result)
        assert result.verdict == "fine"

    def test_bptt_truncated_to_one_step_is_caught(self):
        assert self._check("tanh", break_bptt=True).verdict == "worry"

    def test_bad_da_shape(self):
        a, caches = rnn.rnn_forward(_sequence(), np.zeros((N_A, M)), _rnn_parameters())
        with pytest.raises(ValueError, match=r"Received: da.shape=\(4, 5, 5\)"):
            rnn.rnn_backward(a[:, :, :-1], caches)


class TestRNNForward:
    def test_concatenated_form_and_keras_simple_rnn(self):
        # The lesson's second form: a<t> = g(W_a [a<t-1>, x<t>] + b_a) with W_a = [W_aa | W_ax].
        parameters, x, a0 = _rnn_parameters(), _sequence(), _rng(4).standard_normal((N_A, M))
        a, caches = rnn.rnn_forward(x, a0, parameters)
        W_a = np.concatenate([parameters["Waa"], parameters["Wax"]], axis=1)
        a_t = a0
        for t in range(T_X):
            a_t = np.tanh(W_a @ np.concatenate([a_t, x[:, :, t]]) + parameters["ba"])
            np.testing.assert_allclose(a[:, :, t], a_t, rtol=1e-12)
        assert len(caches) == T_X

        if KERAS_TANH_IS_FLOAT32:
            pytest.skip(
                "keras.layers.SimpleRNN(dtype='float64') fails here: Keras' tanh is float32 (gaps.py)"
            )
        keras_rnn = keras.layers.SimpleRNN(N_A, return_sequences=True, dtype="float64")
        keras_rnn.build((None, T_X, N_X))
        keras_rnn.set_weights([parameters["Wax"].T, parameters["Waa"].T, parameters["ba"][:, 0]])
        # Keras' tanh and products are float32 outside TensorFlow (tests/backends/gaps.py).
        np.testing.assert_allclose(
            _keras_sequences(keras_rnn, x, [a0.T]), a, rtol=rtol64(1e-10), atol=atol64(0)
        )

    def test_bad_shapes(self):
        with pytest.raises(ValueError, match=r"Received: x.shape=\(3, 5\), a0.shape=\(4, 5\)"):
            rnn.rnn_forward(np.zeros((N_X, M)), np.zeros((N_A, M)), _rnn_parameters())
        with pytest.raises(ValueError, match=r"a0.shape=\(4, 2\)"):
            rnn.rnn_forward(_sequence(), np.zeros((N_A, 2)), _rnn_parameters())


class TestLSTM:
    def test_matches_keras_lstm(self):
        # Keras' LSTM kernel columns are [i, f, c, o]; its input gate i is the lesson's update gate.
        parameters, x = _gate_parameters(LSTM_GATES), _sequence()
        a0, c0 = _rng(5).standard_normal((2, N_A, M))
        a, c, caches = rnn.lstm_forward(x, a0, parameters, c0=c0)
        layer = keras.layers.LSTM(N_A, return_sequences=True, dtype="float64")
        layer.build((None, T_X, N_X))
        layer.set_weights(list(rnn.gate_weights(parameters, LSTM_GATES)))
        np.testing.assert_allclose(
            _keras_sequences(layer, x, [a0.T, c0.T]), a, rtol=rtol64(1e-10), atol=atol64(0)
        )
        np.testing.assert_allclose(c[:, :, -1], caches[-1].c_next)
        np.testing.assert_allclose(caches[-1].a_next, caches[-1].gate_o * np.tanh(caches[-1].c_next))

    def test_peephole_matches_the_gate_by_gate_formulas(self):
        # An independent formulation: the four gates from one stacked matrix, and the peepholes as
        # diagonal matrices, the way Gers & Schmidhuber write them.
        parameters = _gate_parameters(LSTM_GATES) | {
            key: _rng(i).standard_normal((N_A, 1)) for i, key in enumerate(rnn.PEEPHOLES)
        }
        x = _sequence()
        a, c, _ = rnn.lstm_forward(x, np.zeros((N_A, M)), parameters)
        stacked = np.concatenate([parameters[f"W{g}"] for g in LSTM_GATES])
        biases = np.concatenate([parameters[f"b{g}"] for g in LSTM_GATES])
        P_u, P_f, P_o = (np.diag(parameters[key][:, 0]) for key in rnn.PEEPHOLES)
        a_t = c_t = np.zeros((N_A, M))
        for t in range(T_X):
            z_u, z_f, z_c, z_o = np.split(stacked @ np.vstack([a_t, x[:, :, t]]) + biases, 4)
            u, f = 1 / (1 + np.exp(-(z_u + P_u @ c_t))), 1 / (1 + np.exp(-(z_f + P_f @ c_t)))
            c_t = u * np.tanh(z_c) + f * c_t
            a_t = np.tanh(c_t) / (1 + np.exp(-(z_o + P_o @ c_t)))
            np.testing.assert_allclose(a[:, :, t], a_t, rtol=1e-12)
            np.testing.assert_allclose(c[:, :, t], c_t, rtol=1e-12)

    def test_closed_forget_and_update_gates_keep_the_memory(self):
        # G_f = 1 and G_u = 0: c<t> = c<t-1> over any number of steps (the lesson's point about memory).
        parameters = _gate_parameters(LSTM_GATES)
        parameters["bf"], parameters["bu"] = np.full((N_A, 1), 60.0), np.full((N_A, 1), -60.0)
        c0 = _rng(6).standard_normal((N_A, M))
        _, c, _ = rnn.lstm_forward(_sequence(), np.zeros((N_A, M)), parameters, c0=c0)
        np.testing.assert_allclose(c[:, :, -1], c0, rtol=1e-12)

    def test_some_peepholes_missing(self):
        parameters = _gate_parameters(LSTM_GATES) | {"pu": np.zeros((N_A, 1))}
        with pytest.raises(
            ValueError, match=r"needs all of \('pu', 'pf', 'po'\). Received: parameters with \['pu'\]"
        ):
            rnn.lstm_forward(_sequence(), np.zeros((N_A, M)), parameters)


class TestGRU:
    def test_full_gru_matches_keras_gru_reset_before(self):
        # Keras' GRU [z, r, h] with reset_after=False: z = 1 - G_u = sigmoid(-(...)), so its z block
        # is the negated u block; r is G_r and h the candidate c~.
        parameters, x = _gate_parameters(("u", "r", "c")), _sequence()
        c0 = _rng(7).standard_normal((N_A, M))
        c, caches = rnn.gru_forward(x, c0, parameters)
        keras_parameters = dict(parameters, Wu=-parameters["Wu"], bu=-parameters["bu"])
        layer = keras.layers.GRU(N_A, return_sequences=True, reset_after=False, dtype="float64")
        layer.build((None, T_X, N_X))
        layer.set_weights(list(rnn.gate_weights(keras_parameters, ("u", "r", "c"))))
        np.testing.assert_allclose(_keras_sequences(layer, x, [c0.T]), c, rtol=rtol64(1e-10), atol=atol64(0))
        assert caches[0].gate_r is not None

    def test_simplified_gru_is_the_lesson_formula(self):
        parameters, x = _gate_parameters(("u", "c")), _sequence()
        c, caches = rnn.gru_forward(x, np.zeros((N_A, M)), parameters)
        c_t = np.zeros((N_A, M))
        for t in range(T_X):
            concat = np.vstack([c_t, x[:, :, t]])
            c_tilde = np.tanh(parameters["Wc"] @ concat + parameters["bc"])
            gate_u = 1 / (1 + np.exp(-(parameters["Wu"] @ concat + parameters["bu"])))
            c_t = gate_u * c_tilde + (1 - gate_u) * c_t
            np.testing.assert_allclose(c[:, :, t], c_t, rtol=1e-12)
        assert caches[0].gate_r is None

    def test_closed_update_gate_keeps_the_memory(self):
        # G_u ~ 0: c<t> = c<t-1>, the GRU's answer to vanishing gradients ("the cat, which ..., was full").
        parameters = _gate_parameters(("u", "r", "c")) | {"bu": np.full((N_A, 1), -60.0)}
        c0 = _rng(8).standard_normal((N_A, M))
        c, _ = rnn.gru_forward(_sequence(), c0, parameters)
        np.testing.assert_allclose(c[:, :, -1], c0, rtol=1e-12)


class TestGateLayout:
    def test_gate_weights_round_trip_and_shapes(self):
        parameters = _gate_parameters(LSTM_GATES)
        kernel, recurrent_kernel, bias = rnn.gate_weights(parameters, LSTM_GATES)
        assert (
            kernel.shape == (N_X, 4 * N_A)
            and recurrent_kernel.shape == (N_A, 4 * N_A)
            and bias.shape == (4 * N_A,)
        )
        back = rnn.gate_parameters(kernel, recurrent_kernel, bias, LSTM_GATES)
        assert back.keys() == parameters.keys()
        for key, value in parameters.items():
            np.testing.assert_array_equal(back[key], value)

    def test_bad_block_count(self):
        kernel, recurrent_kernel, bias = rnn.gate_weights(_gate_parameters(LSTM_GATES), LSTM_GATES)
        with pytest.raises(
            ValueError, match=r"Expected 3 blocks of n_a=4 columns for gates=\('u', 'r', 'c'\)"
        ):
            rnn.gate_parameters(kernel, recurrent_kernel, bias, ("u", "r", "c"))
