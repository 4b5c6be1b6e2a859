"""Recurrent cells for `keras.layers.RNN`: the basic RNN, the GRU (full and simplified) and the LSTM.

Course 5, Week 1 ("Recurrent Neural Network Model", "Gated Recurrent Unit
(GRU)", "Long Short Term Memory (LSTM)", "Bidirectional RNN", "Deep RNNs").
A cell computes one time step; `keras.layers.RNN(cell)` runs it over the
sequence, handles masks, `return_sequences`, `return_state` and
`go_backwards`. The cells use `keras.ops` only, so they run on every Keras 3
backend, and each is checked against the NumPy reference in
`kerasdl.scratch.rnn` and against the Keras built-in with copied weights
(tests/kerasdl/nn/test_cells.py).

Weights, and how they relate to the lesson's: the lesson writes one step
column-major, W [n_a, n_a + n_x] acting on the concatenation [a<t-1>, x<t>]
of [n, m] columns. Keras steps are row-major ([m, n]), and each cell keeps
three weights whose columns are the gates' blocks, side by side:

    kernel            [n_x, blocks * n_a]   block g = W_g[:, n_a:]^T   (W_ax^T for the basic RNN)
    recurrent_kernel  [n_a, blocks * n_a]   block g = W_g[:, :n_a]^T   (W_aa^T)
    bias              [blocks * n_a]        block g = b_g[:, 0]

so W_g [a<t-1>, x<t>] + b_g, transposed, is x<t> kernel_g + a<t-1> recurrent_kernel_g + bias_g.
Each cell's docstring gives its blocks and their Keras counterparts.

Recipes (the layers around a cell are Keras' own):

    # many-to-many: y_hat<t> = softmax(W_ya a<t> + b_y) at every step
    a = keras.layers.RNN(LSTMCell(64), return_sequences=True)(x)
    y = keras.layers.Dense(vocabulary_size, activation="softmax")(a)

    # bidirectional: y_hat<t> = g(W_y [a->(t), a<-(t)] + b_y)
    a = keras.layers.Bidirectional(keras.layers.RNN(GRUCell(64), return_sequences=True))(x)

    # deep RNN, a[l]<t> = g(W_a[l] [a[l]<t-1>, a[l-1]<t>] + b_a[l]): a list of
    # cells runs all layers in each time step of one loop (keras.layers.StackedRNNCells)
    a = keras.layers.RNN([LSTMCell(64), LSTMCell(64)], return_sequences=True)(x)

    # deep bidirectional: one layer per level, each reads the whole sequence below it
    for units in (64, 64):
        x = keras.layers.Bidirectional(keras.layers.RNN(LSTMCell(units), return_sequences=True))(x)

    # variable lengths: pad on the right and mask (keras.layers.Masking, or
    # Embedding(mask_zero=True)); keras.layers.RNN carries a<t> (and c<t>) over
    # masked steps unchanged, so the final state is the last real step's.
    a = keras.layers.RNN(LSTMCell(64))(keras.layers.Masking(0.0)(x))

Speed: `keras.layers.RNN` calls the cell once per step inside a while loop,
exactly as `keras.layers.LSTM` does on a CPU; on a GPU the built-in LSTM and
GRU switch to cuDNN's fused kernels, which a Python-level cell cannot use
(benchmarks/cells.py).
"""

from __future__ import annotations

import keras
from keras import activations, initializers, ops, regularizers


def _check_bool(name: str, value) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False. Received: {name}={value!r}")


def _previous(states):
    """The first state, whether Keras passes a list of states or the tensor itself."""
    return states[0] if isinstance(states, (list, tuple)) else states


class _RecurrentCell(keras.layers.Layer):
    """Shared plumbing: the arguments, the three block-wise weights and the config.

    Subclasses set `blocks` (the names of the column blocks, in order) and write `call`.
    """

    blocks: tuple[str, ...] = ()

    def __init__(
        self,
        units: int,
        activation="tanh",
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"units must be a positive integer. Received: units={units!r}")
        _check_bool("use_bias", use_bias)
        self.units = units
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.state_size = units
        self.output_size = units

    def _initial_bias(self):
        return self.bias_initializer

    def get_initial_state(self, batch_size=None):
        """Zeros for every state, as a list, as Keras' own cells return them.

        In `keras.layers.StackedRNNCells` the list keeps each cell's states
        nested, which the JAX backend's masked loop relies on to find the
        last cell's output (with bare tensors it took the first cell's).
        """
        sizes = self.state_size if isinstance(self.state_size, (list, tuple)) else [self.state_size]
        return [ops.zeros((batch_size, size), dtype=self.compute_dtype) for size in sizes]

    def build(self, input_shape):
        n_x = input_shape[-1]
        if n_x is None:
            raise ValueError(f"The last input dimension must be known. Received: input_shape={input_shape}")
        width = len(self.blocks) * self.units
        self.kernel = self.add_weight(
            shape=(n_x, width),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, width),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(width,),
                name="bias",
                initializer=self._initial_bias(),
                regularizer=self.bias_regularizer,
            )

    def _project(self, inputs, previous=None):
        """x<t> kernel + bias, plus previous recurrent_kernel when given: every block in one product."""
        z = ops.matmul(inputs, self.kernel)
        if previous is not None:
            z = ops.add(z, ops.matmul(previous, self.recurrent_kernel))
        if self.use_bias:
            z = ops.add(z, self.bias)
        return z

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
        }


@keras.saving.register_keras_serializable(package="kerasdl")
class SimpleRNNCell(_RecurrentCell):
    """The basic RNN step: a<t> = g(W_aa a<t-1> + W_ax x<t> + b_a).

    Course 5, Week 1, "Recurrent Neural Network Model" (g is tanh, sometimes
    ReLU). One block: `kernel` is W_ax^T [n_x, n_a], `recurrent_kernel` is
    W_aa^T [n_a, n_a], `bias` is b_a. The same layout, and the same numbers,
    as `keras.layers.SimpleRNN`'s cell.

    Args:
        units: n_a, the size of the hidden state, a positive integer.
        activation: g, any Keras activation ("tanh" as in the lesson, or "relu").
        use_bias: whether to add b_a.
        kernel_initializer: initializer for W_ax^T.
        recurrent_initializer: initializer for W_aa^T (orthogonal, as Keras).
        bias_initializer: initializer for b_a.
        kernel_regularizer: penalty on W_ax.
        recurrent_regularizer: penalty on W_aa.
        bias_regularizer: penalty on b_a.

    Call arguments:
        inputs: x<t> [m, n_x].
        states: [a<t-1>] (or a<t-1>), [m, n_a].

    Returns:
        (a<t>, [a<t>]).

    Example:

        >>> layer = keras.layers.RNN(SimpleRNNCell(4), return_sequences=True)
        >>> tuple(layer(keras.ops.ones((2, 5, 3))).shape)
        (2, 5, 4)
    """

    blocks = ("a",)

    def call(self, inputs, states):
        a_prev = _previous(states)
        # The state keeps its dtype: Keras' tanh returns float32 for float64 inputs on JAX
        # (keras-team/keras#23223), and the JAX loop (lax.scan) refuses a state that changes dtype.
        a = ops.cast(self.activation(self._project(inputs, a_prev)), a_prev.dtype)
        return a, [a] if isinstance(states, (list, tuple)) else a


class _GatedCell(_RecurrentCell):
    """A cell with sigmoid gates: adds `recurrent_activation`."""

    def __init__(self, units: int, activation="tanh", recurrent_activation="sigmoid", **kwargs):
        super().__init__(units, activation=activation, **kwargs)
        self.recurrent_activation = activations.get(recurrent_activation)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
        }


@keras.saving.register_keras_serializable(package="kerasdl")
class GRUCell(_GatedCell):
    """The Gated Recurrent Unit, full (with the relevance gate G_r) or simplified.

    Course 5, Week 1, "Gated Recurrent Unit (GRU)"; Cho et al. 2014. The
    memory cell is the output, a<t> = c<t>:

        G_u   = sigmoid(W_u [c<t-1>, x<t>] + b_u)                 update gate
        G_r   = sigmoid(W_r [c<t-1>, x<t>] + b_r)                 relevance gate (full GRU only)
        c~<t> = tanh(W_c [G_r * c<t-1>, x<t>] + b_c)              simplified: c<t-1> for G_r * c<t-1>
        c<t>  = G_u * c~<t> + (1 - G_u) * c<t-1>

    Blocks: [u, r, c~] with `relevance_gate=True`, [u, c~] without.

    Relation to `keras.layers.GRU(reset_after=False)` (the full GRU only;
    Keras has no simplified one). Keras' blocks are [z, r, h] and it mixes
    h = z * h<t-1> + (1 - z) * hh: its z keeps the old state where G_u writes
    the new one, z = 1 - G_u, and since 1 - sigmoid(v) = sigmoid(-v), Keras'
    z block is the negated u block (kernel, recurrent kernel and bias). r is
    G_r and hh is c~<t>. The lesson applies G_r before the matrix product,
    (G_r * c<t-1>) W_cc^T, which is Keras' `reset_after=False`; Keras'
    default `reset_after=True` (cuDNN's form) computes G_r * (c<t-1> W_cc^T +
    b), a different cell.

    Args:
        units: n_a, a positive integer.
        relevance_gate: True for the full GRU, False for the simplified one.
        activation: the candidate's activation (tanh).
        recurrent_activation: the gates' activation (sigmoid). The relation to
            Keras' z needs an f with f(-v) = 1 - f(v) (sigmoid, hard_sigmoid).
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
        kernel_regularizer, recurrent_regularizer, bias_regularizer: as in
            `SimpleRNNCell`.

    Call arguments:
        inputs: x<t> [m, n_x].
        states: [c<t-1>] (or c<t-1>), [m, n_a].

    Returns:
        (c<t>, [c<t>]).

    Reference:
        Cho et al., 2014, "On the Properties of Neural Machine Translation:
        Encoder-Decoder Approaches". Chung et al., 2014, "Empirical
        Evaluation of Gated Recurrent Neural Networks on Sequence Modeling".

    Example:

        >>> layer = keras.layers.RNN(GRUCell(4, relevance_gate=False))
        >>> tuple(layer(keras.ops.ones((2, 5, 3))).shape)
        (2, 4)
    """

    def __init__(self, units: int, relevance_gate: bool = True, **kwargs):
        _check_bool("relevance_gate", relevance_gate)
        super().__init__(units, **kwargs)
        self.relevance_gate = relevance_gate
        self.blocks = ("u", "r", "c") if relevance_gate else ("u", "c")

    def call(self, inputs, states):
        c_prev = _previous(states)
        n = self.units
        if self.relevance_gate:
            x_u, x_r, x_c = ops.split(self._project(inputs), 3, axis=-1)
            h_u, h_r = ops.split(ops.matmul(c_prev, self.recurrent_kernel[:, : 2 * n]), 2, axis=-1)
            gate_u = self.recurrent_activation(ops.add(x_u, h_u))
            gate_r = self.recurrent_activation(ops.add(x_r, h_r))
            relevant = ops.matmul(ops.multiply(gate_r, c_prev), self.recurrent_kernel[:, 2 * n :])
            c_tilde = self.activation(ops.add(x_c, relevant))
        else:
            z_u, z_c = ops.split(self._project(inputs, c_prev), 2, axis=-1)
            gate_u = self.recurrent_activation(z_u)
            c_tilde = self.activation(z_c)
        c = ops.add(ops.multiply(gate_u, c_tilde), ops.multiply(1.0 - gate_u, c_prev))
        return c, [c] if isinstance(states, (list, tuple)) else c

    def get_config(self) -> dict:
        return {**super().get_config(), "relevance_gate": self.relevance_gate}


@keras.saving.register_keras_serializable(package="kerasdl")
class LSTMCell(_GatedCell):
    """Long Short-Term Memory, with optional peephole connections.

    Course 5, Week 1, "Long Short Term Memory (LSTM)"; Hochreiter &
    Schmidhuber 1997:

        c~<t> = tanh(W_c [a<t-1>, x<t>] + b_c)
        G_u   = sigmoid(W_u [a<t-1>, x<t>] + p_u * c<t-1> + b_u)   update gate
        G_f   = sigmoid(W_f [a<t-1>, x<t>] + p_f * c<t-1> + b_f)   forget gate
        c<t>  = G_u * c~<t> + G_f * c<t-1>
        G_o   = sigmoid(W_o [a<t-1>, x<t>] + p_o * c<t> + b_o)     output gate
        a<t>  = G_o * tanh(c<t>)

    The p terms are there only with `peephole=True`: the lesson's "sometimes
    c<t-1>" in the gates, as Gers & Schmidhuber add it, one weight per unit
    (unit i's gates see only unit i's memory cell), and the output gate sees
    the new c<t>.

    Blocks: [u, f, c~, o], which is `keras.layers.LSTM`'s [i, f, c, o] (its
    input gate i is the update gate G_u): the same layout, so
    `set_weights(keras_lstm.get_weights())` copies a Keras LSTM (add the
    three peephole weights for `peephole=True`; Keras has no peephole LSTM).

    Args:
        units: n_a, a positive integer.
        peephole: add the peephole connections p_u, p_f, p_o.
        unit_forget_bias: start b_f at 1 (and the other biases at zero), as
            Keras does (Jozefowicz et al. 2015), so the cell remembers at first.
        peephole_initializer: initializer for p_u, p_f, p_o; zeros starts
            the cell as the plain LSTM.
        activation: the activation of c~<t> and of c<t> in a<t> (tanh).
        recurrent_activation: the gates' activation (sigmoid).
        use_bias, kernel_initializer, recurrent_initializer, bias_initializer,
        kernel_regularizer, recurrent_regularizer, bias_regularizer: as in
            `SimpleRNNCell`.

    Call arguments:
        inputs: x<t> [m, n_x].
        states: [a<t-1>, c<t-1>], [m, n_a] each.

    Returns:
        (a<t>, [a<t>, c<t>]).

    Reference:
        Hochreiter & Schmidhuber, 1997, "Long Short-Term Memory". Gers &
        Schmidhuber, 2000, "Recurrent Nets that Time and Count".

    Example:

        >>> layer = keras.layers.RNN(LSTMCell(4, peephole=True), return_state=True)
        >>> a, a_last, c_last = layer(keras.ops.ones((2, 5, 3)))
        >>> tuple(a.shape), tuple(c_last.shape)
        ((2, 4), (2, 4))
    """

    blocks = ("u", "f", "c", "o")

    def __init__(
        self,
        units: int,
        peephole: bool = False,
        unit_forget_bias: bool = True,
        peephole_initializer="zeros",
        **kwargs,
    ):
        _check_bool("peephole", peephole)
        _check_bool("unit_forget_bias", unit_forget_bias)
        super().__init__(units, **kwargs)
        self.peephole = peephole
        self.unit_forget_bias = unit_forget_bias
        self.peephole_initializer = initializers.get(peephole_initializer)
        self.state_size = [units, units]

    def _initial_bias(self):
        if not self.unit_forget_bias:
            return self.bias_initializer

        def bias_u_ones_c_o(_, *args, **kwargs):
            n = self.units
            return ops.concatenate(
                [
                    self.bias_initializer((n,), *args, **kwargs),
                    ops.ones((n,), *args, **kwargs),
                    self.bias_initializer((2 * n,), *args, **kwargs),
                ]
            )

        return bias_u_ones_c_o

    def build(self, input_shape):
        super().build(input_shape)
        self.peepholes = None
        if self.peephole:
            self.peepholes = [
                self.add_weight(
                    shape=(self.units,), name=f"{gate}_peephole", initializer=self.peephole_initializer
                )
                for gate in ("update", "forget", "output")
            ]

    def call(self, inputs, states):
        a_prev, c_prev = states
        z_u, z_f, z_c, z_o = ops.split(self._project(inputs, a_prev), 4, axis=-1)
        if self.peephole:
            p_u, p_f, p_o = self.peepholes
            z_u = ops.add(z_u, ops.multiply(p_u, c_prev))
            z_f = ops.add(z_f, ops.multiply(p_f, c_prev))
        gate_u = self.recurrent_activation(z_u)
        gate_f = self.recurrent_activation(z_f)
        c = ops.add(ops.multiply(gate_u, self.activation(z_c)), ops.multiply(gate_f, c_prev))
        if self.peephole:
            z_o = ops.add(z_o, ops.multiply(p_o, c))
        a = ops.multiply(self.recurrent_activation(z_o), self.activation(c))
        return a, [a, c]

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "peephole": self.peephole,
            "unit_forget_bias": self.unit_forget_bias,
            "peephole_initializer": initializers.serialize(self.peephole_initializer),
        }
