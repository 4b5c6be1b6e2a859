"""The attention model: attention weights over the encoder's activations, and the decoder that reads them.

Course 5, Week 3 ("Attention model intuition", "Attention model"; Bahdanau
et al. 2014, "Neural machine translation by jointly learning to align and
translate"). A bidirectional RNN reads the input x<1..T_x> into activations
a<t'> = [a->(t'); a<-(t')]; to write output y<t>, the decoder looks at every
a<t'> with a weight alpha<t,t'>, the "amount of attention y<t> should pay to
a<t'>", computed from its own previous state s<t-1>:

    e<t,t'>     = g_e(w_2 g(W_1 [a<t'>; s<t-1>] + b_1) + b_2)     a small network, one energy per t'
    alpha<t,t'> = exp(e<t,t'>) / sum_{t''=1..T_x} exp(e<t,t''>)     so sum_{t'} alpha<t,t'> = 1
    c<t>        = sum_{t'} alpha<t,t'> a<t'>                        the context of output step t

The course's network is Dense(units=10, tanh) then Dense(1, ReLU) on the
concatenation [a<t'>; s<t-1>] (`Attention`'s defaults); Bahdanau et al.'s
energy is linear (`energy_activation="linear"`). Computing W_1 [a<t'>; s<t-1>]
as W_a a<t'> + W_s s<t-1> (the two column blocks of W_1) gives the same
numbers and lets the a<t'> part be computed once per input sequence instead
of once per output step (`Attention.project_values`). The cost is T_x x T_y
energies per example: quadratic, as the lesson notes.

`AttentionDecoder` is the course's post-attention LSTM around it, with
teacher forcing as an option:

    c<t>       = attention(s<t-1>, a)
    s<t>, m<t> = LSTM([c<t>; E y<t-1>], s<t-1>, m<t-1>)     s<0> = m<0> = 0
    y_hat<t>   = softmax(W_y s<t> + b_y)

With `embedding_size > 0` the decoder reads the previous output token y<t-1>
(y<0> = <start>): during training the true one (teacher forcing), during
decoding the one it chose (`step`, for greedy and beam search). With
`embedding_size=0` it is the course's decoder, which reads only c<t>: the
distribution of y<t> then does not depend on the tokens chosen before it,
so greedy decoding takes the most likely token at every position, and a
search can change the answer only in where the output ends.

Both layers use `keras.ops` only. The oracle is the NumPy reference in
`kerasdl.scratch.attention` (tests/kerasdl/nn/test_attention.py).

Example:

    >>> encoder = keras.layers.Bidirectional(keras.layers.LSTM(8, return_sequences=True))
    >>> a = encoder(keras.ops.ones((2, 5, 3)))
    >>> context, alphas = Attention()(keras.ops.zeros((2, 16)), a, return_attention_scores=True)
    >>> tuple(context.shape), tuple(alphas.shape)
    ((2, 16), (2, 5))
    >>> logits = AttentionDecoder(16, vocabulary_size=12)(a, keras.ops.zeros((2, 4), "int32"))
    >>> tuple(logits.shape)
    (2, 4, 12)
"""

from __future__ import annotations

import keras
from keras import activations, initializers, ops

from kerasdl.nn.cells import LSTMCell

_MASKED_ENERGY = -1e9  # exp() of it is 0 next to any real energy: masked positions get no weight


def _check_units(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {kind}. Received: {name}={value!r}")
    return value


def _last_dimension(shape, name: str) -> int:
    if shape is None or len(shape) < 2 or shape[-1] is None:
        raise ValueError(f"The last dimension of {name} must be known. Received: {name}_shape={shape}")
    return int(shape[-1])


@keras.saving.register_keras_serializable(package="kerasdl")
class Attention(keras.layers.Layer):
    """One attention step: the context c<t> and the weights alpha<t,t'> from s<t-1> and a<1..T_x>.

    Course 5, Week 3, "Attention model": alpha<t,t'> is a softmax over t' of
    the energies of a small network of [a<t'>; s<t-1>] (module docstring).

    Weights: `kernel` [n_a + n_s, units] is W_1 transposed, its first n_a
    rows acting on a<t'> (the course's `concatenate([a, s_prev])` then
    `Dense(10)`: the same layout as that Dense's kernel); `bias` [units] is
    b_1; `energy_kernel` [units, 1] and `energy_bias` [1] are w_2^T and b_2
    (the course's `Dense(1)`).

    Args:
        units: the hidden layer's size (10 in the course).
        activation: g, the hidden layer's activation (tanh).
        energy_activation: g_e, the energy's activation: "relu" as in the
            course, "linear" as in Bahdanau et al.
        kernel_initializer: initializer of both kernels.
        bias_initializer: initializer of both biases.

    Call arguments:
        query: s<t-1> [m, n_s].
        values: a [m, T_x, n_a].
        values_mask: [m, T_x] booleans, True at real positions (Keras fills
            it in from a masked `values`); masked positions get weight 0.
        return_attention_scores: also return alpha<t, 1..T_x>.

    Returns:
        c<t> [m, n_a], and alpha [m, T_x] with `return_attention_scores`.

    Reference:
        Bahdanau, Cho & Bengio, 2014, "Neural Machine Translation by Jointly
        Learning to Align and Translate".
    """

    def __init__(
        self,
        units: int = 10,
        activation="tanh",
        energy_activation="relu",
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = _check_units("units", units)
        self.activation = activations.get(activation)
        self.energy_activation = activations.get(energy_activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def build(self, query_shape, values_shape):
        n_s = _last_dimension(query_shape, "query")
        self.values_size = _last_dimension(values_shape, "values")
        self.kernel = self.add_weight(
            shape=(self.values_size + n_s, self.units), name="kernel", initializer=self.kernel_initializer
        )
        self.bias = self.add_weight(shape=(self.units,), name="bias", initializer=self.bias_initializer)
        self.energy_kernel = self.add_weight(
            shape=(self.units, 1), name="energy_kernel", initializer=self.kernel_initializer
        )
        self.energy_bias = self.add_weight(shape=(1,), name="energy_bias", initializer=self.bias_initializer)

    def _weight(self, variable):
        # `project_values` and `attend` are called outside `__call__` while decoding, where Keras does not
        # cast the variables to the compute dtype (mixed precision) by itself.
        return ops.cast(variable, self.compute_dtype)

    def project_values(self, values):
        """W_a a<t'> + b_1 for every t', [m, T_x, units]: the part of the network s<t-1> does not change."""
        kernel = self._weight(self.kernel)[: self.values_size]
        return ops.add(ops.matmul(values, kernel), self._weight(self.bias))

    def attend(self, query, values, projected_values, values_mask=None):
        """(c<t> [m, n_a], alpha [m, T_x]) given `project_values(values)` computed once beforehand."""
        query_part = ops.matmul(
            query, self._weight(self.kernel)[self.values_size :]
        )  # W_s s<t-1>, [m, units]
        hidden = self.activation(ops.add(projected_values, ops.expand_dims(query_part, 1)))
        energy = ops.add(ops.matmul(hidden, self._weight(self.energy_kernel)), self._weight(self.energy_bias))
        energies = self.energy_activation(energy)
        energies = ops.squeeze(energies, axis=-1)  # [m, T_x]
        if values_mask is not None:
            masked = ops.full_like(energies, _MASKED_ENERGY)
            energies = ops.where(ops.cast(values_mask, "bool"), energies, masked)
        alphas = ops.softmax(energies, axis=-1)
        context = ops.sum(ops.multiply(ops.expand_dims(alphas, -1), values), axis=1)
        return context, alphas

    def call(self, query, values, values_mask=None, return_attention_scores: bool = False):
        context, alphas = self.attend(query, values, self.project_values(values), values_mask)
        return (context, alphas) if return_attention_scores else context

    def compute_mask(self, query, previous_mask=None):
        return None  # the context has no time axis left to mask

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "energy_activation": activations.serialize(self.energy_activation),
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
        }


@keras.saving.register_keras_serializable(package="kerasdl")
class AttentionDecoder(keras.layers.Layer):
    """The course's post-attention LSTM: attention, an LSTM step and a softmax layer per output step.

    Course 5, Week 3, "Attention model" (module docstring for the formulas).
    Training calls it with the previous target tokens (teacher forcing) and
    gets the logits of every output step in one call; decoding calls `step`
    once per output token, with the token it chose.

    Sub-layers (their weights are the decoder's): `attention` (an
    `Attention`), `cell` (a `kerasdl.nn.cells.LSTMCell` of `units` whose
    input is [c<t>; E y<t-1>]), `embedding` (E, only when
    `embedding_size > 0`) and `output_layer` (W_y, b_y: logits; the softmax
    is the loss's, `from_logits=True`).

    Args:
        units: n_s, the size of the decoder's state s<t> (64 in the course).
        vocabulary_size: V, the number of output tokens.
        embedding_size: n_e, the size of the previous token's embedding
            E y<t-1>; 0 for the course's decoder, which reads only c<t>.
        attention_units: the attention network's hidden size (10 in the course).
        attention_activation: its hidden activation (tanh).
        energy_activation: its energy's activation ("relu" in the course).

    Call arguments:
        encoded: a [m, T_x, n_a], the encoder's activations.
        previous_tokens: int [m, T_y], y<t-1> for t = 1..T_y (y<0> = <start>);
            read for T_y only when `embedding_size` is 0.
        encoded_mask: [m, T_x] booleans (Keras fills it in from a masked `encoded`).
        return_attention_scores: also return alpha [m, T_y, T_x].

    Returns:
        logits [m, T_y, V], and alpha [m, T_y, T_x] with `return_attention_scores`.
    """

    def __init__(
        self,
        units: int,
        vocabulary_size: int,
        embedding_size: int = 16,
        attention_units: int = 10,
        attention_activation="tanh",
        energy_activation="relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = _check_units("units", units)
        self.vocabulary_size = _check_units("vocabulary_size", vocabulary_size)
        self.embedding_size = _check_units("embedding_size", embedding_size, minimum=0)
        sublayer = {"dtype": self.dtype_policy}
        self.attention = Attention(
            _check_units("attention_units", attention_units),
            activation=attention_activation,
            energy_activation=energy_activation,
            name="attention",
            **sublayer,
        )
        self.cell = LSTMCell(units, name="post_attention_lstm", **sublayer)
        self.embedding = None
        if self.embedding_size:
            self.embedding = keras.layers.Embedding(
                vocabulary_size, self.embedding_size, name="embedding", **sublayer
            )
        self.output_layer = keras.layers.Dense(vocabulary_size, name="output", **sublayer)

    def build(self, encoded_shape, previous_tokens_shape=None):
        n_a = _last_dimension(encoded_shape, "encoded")
        self.attention.build((None, self.units), encoded_shape)
        self.cell.build((None, n_a + self.embedding_size))
        if self.embedding is not None:
            self.embedding.build((None,))
        self.output_layer.build((None, self.units))

    def initial_state(self, batch_size) -> list:
        """[s<0>, m<0>], zeros [batch_size, n_s] each, as the course starts its decoder."""
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype) for _ in range(2)]

    def prepare(self, encoded):
        """What every step reads of the input: `Attention.project_values(encoded)`, computed once."""
        return self.attention.project_values(encoded)

    def step(self, encoded, prepared, previous_token, states, encoded_mask=None):
        """One output step: (logits [m, V], new states [s<t>, m<t>], alpha [m, T_x]).

        Args:
            encoded: a [m, T_x, n_a].
            prepared: `prepare(encoded)`.
            previous_token: int [m], y<t-1> (ignored when `embedding_size` is 0).
            states: [s<t-1>, m<t-1>].
            encoded_mask: [m, T_x] booleans, or None.
        """
        context, alphas = self.attention.attend(states[0], encoded, prepared, encoded_mask)
        x = context
        if self.embedding is not None:
            x = ops.concatenate([context, self.embedding(previous_token)], axis=-1)
        s, states = self.cell(x, states)
        return self.output_layer(s), list(states), alphas

    def call(self, encoded, previous_tokens, encoded_mask=None, return_attention_scores: bool = False):
        prepared = self.prepare(encoded)
        batch = ops.shape(encoded)[0]
        s, memory = self.initial_state(batch)
        logits = ops.zeros((batch, self.vocabulary_size), dtype=self.compute_dtype)
        alphas = ops.zeros(ops.shape(encoded)[:2], dtype=self.compute_dtype)

        def output_step(carry, previous_token):
            s, memory, _, _ = carry
            logits, (s, memory), alphas = self.step(
                encoded, prepared, previous_token, [s, memory], encoded_mask
            )
            carry = (s, memory, logits, alphas)
            return carry, carry  # TensorFlow's `ops.scan` wants the outputs shaped as the carry

        # One loop over t = 1..T_y (a while loop, not unrolled: tracing stays quick for long outputs).
        _, (_, _, logits, alphas) = ops.scan(
            output_step, (s, memory, logits, alphas), ops.transpose(previous_tokens)
        )
        logits = ops.transpose(logits, (1, 0, 2))
        return (logits, ops.transpose(alphas, (1, 0, 2))) if return_attention_scores else logits

    def compute_mask(self, encoded, previous_mask=None):
        return None  # the outputs run over T_y, not over the input's T_x

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "units": self.units,
            "vocabulary_size": self.vocabulary_size,
            "embedding_size": self.embedding_size,
            "attention_units": self.attention.units,
            "attention_activation": activations.serialize(self.attention.activation),
            "energy_activation": activations.serialize(self.attention.energy_activation),
        }
