"""kerasdl.nn.glove against the NumPy reference (kerasdl.scratch.glove), the paper's f(x) and differences."""

import keras
import numpy as np
import pytest
from keras import ops

from kerasdl.nn.autodiff import value_and_gradients
from kerasdl.nn.glove import GloVe, GloVeLoss, glove_loss, glove_predictions, glove_weighting, paper_optimizer
from kerasdl.scratch import glove as reference
from tests.backends.gaps import atol64, keras_optimizer_not_allowlisted, needs_float64_matmul, rtol64
from tests.backends.jacobians import compute_gradient
from tests.saving import reload

numpy = ops.convert_to_numpy
V, D = 6, 3
# Nonzero entries of a co-occurrence matrix: counts below, at and above x_max = 100, fractions (1/d weights).
ROWS = np.array([0, 1, 2, 3, 4, 5, 1, 2])
COLS = np.array([1, 0, 2, 5, 4, 3, 3, 0])
COUNTS = np.array([3.5, 3.5, 100.0, 0.25, 250.0, 0.25, 42.0, 1.0])
PAIRS = np.stack([ROWS, COLS], axis=1).astype(np.int32)


@pytest.fixture(scope="module")
def parameters():
    rng = np.random.default_rng(3)
    return (
        rng.normal(0, 0.5, (V, D)),
        rng.normal(0, 0.5, (V, D)),
        rng.normal(0, 0.5, V),
        rng.normal(0, 0.5, V),
    )


def cost(w, w_tilde, b, b_tilde):
    return ops.sum(glove_loss(COUNTS, glove_predictions(w, w_tilde, b, b_tilde, PAIRS)))


class TestWeighting:
    @pytest.mark.parametrize("x_max, alpha", [(100.0, 0.75), (10.0, 0.5), (1.0, 1.0)])
    def test_f_is_the_papers_formula(self, x_max, alpha):
        x = np.array([0.0, 1e-3, 0.5, 1.0, 9.99, 10.0, 42.0, 99.999, 100.0, 1e4])
        f = numpy(glove_weighting(x, x_max, alpha))
        assert f.tolist() == pytest.approx(
            [reference.weighting(v, x_max, alpha) for v in x.tolist()], rel=rtol64(1e-12)
        )
        assert f[0] == 0.0 and f[-1] == 1.0 and np.all(np.diff(f) >= 0)
        assert f[x.tolist().index(x_max) if x_max in x else -1] == 1.0

    def test_default_is_x_max_100_alpha_three_quarters(self):
        assert float(numpy(glove_weighting(np.array(50.0)))) == pytest.approx(0.5**0.75, rel=rtol64(1e-12))


class TestLoss:
    def test_cost_and_gradients_equal_the_reference(self, parameters):
        value, gradients = value_and_gradients(cost, parameters)
        expected_cost, *expected = reference.cost_and_gradients(*parameters, ROWS, COLS, COUNTS)
        assert float(numpy(value)) == pytest.approx(expected_cost, rel=rtol64(1e-12))
        for gradient, oracle in zip(gradients, expected, strict=True):
            np.testing.assert_allclose(numpy(gradient), oracle, rtol=rtol64(1e-10), atol=atol64(1e-12))

    @needs_float64_matmul
    def test_gradients_equal_central_differences(self, parameters):
        theoretical, numerical = compute_gradient(cost, parameters)
        for exact, estimate in zip(theoretical, numerical, strict=True):
            np.testing.assert_allclose(exact, estimate, rtol=1e-5, atol=1e-6)

    def test_loss_class_sums_over_the_batch_by_default(self, parameters):
        predictions = glove_predictions(*parameters, PAIRS)
        per_entry = numpy(glove_loss(COUNTS, predictions))
        total = GloVeLoss(dtype="float64")(COUNTS, predictions)
        assert float(numpy(total)) == pytest.approx(per_entry.sum(), rel=rtol64(1e-12))
        mean = GloVeLoss(reduction="sum_over_batch_size", dtype="float64")(COUNTS, predictions)
        assert float(numpy(mean)) == pytest.approx(per_entry.mean(), rel=rtol64(1e-12))
        custom = numpy(glove_loss(COUNTS, predictions, x_max=10.0, alpha=0.5))
        other = GloVeLoss(10.0, 0.5, dtype="float64")(COUNTS, predictions)
        assert float(numpy(other)) == pytest.approx(custom.sum(), rel=rtol64(1e-12))

    @pytest.mark.parametrize("kwargs", [{"x_max": 0.0}, {"alpha": -1.0}, {"x_max": float("inf")}])
    def test_bad_arguments(self, kwargs):
        with pytest.raises(ValueError, match=f"{next(iter(kwargs))} must be a positive number"):
            GloVeLoss(**kwargs)


def set_parameters(model: GloVe, w, w_tilde, b, b_tilde) -> None:
    model.build()
    model.word_embedding.embeddings.assign(w)
    model.context_embedding.embeddings.assign(w_tilde)
    model.word_bias.embeddings.assign(b[:, None])
    model.context_bias.embeddings.assign(b_tilde[:, None])


class TestGloVe:
    def test_the_model_predicts_the_dot_product_plus_biases_and_sums_its_vectors(self, parameters):
        model = GloVe(V, D, seed=0, dtype="float64")
        set_parameters(model, *parameters)
        w, w_tilde, b, b_tilde = parameters
        expected = np.einsum("nd,nd->n", w[ROWS], w_tilde[COLS]) + b[ROWS] + b_tilde[COLS]
        np.testing.assert_allclose(numpy(model(PAIRS)), expected, rtol=rtol64(1e-12))
        np.testing.assert_allclose(model.word_vectors(), w + w_tilde, rtol=1e-15)

    def test_initialisation_is_glove_cs(self):
        model = GloVe(50, 20, seed=1)
        model.build()
        for weight in model.weights:
            values = numpy(weight)
            assert np.abs(values).max() <= 0.5 / 20 and values.std() > 0.1 / 20

    def test_paper_optimizer(self):
        optimizer = paper_optimizer()
        assert isinstance(optimizer, keras.optimizers.Adagrad)
        assert float(numpy(optimizer.learning_rate)) == pytest.approx(0.05)
        assert optimizer.initial_accumulator_value == 1.0

    def test_fit_recovers_planted_log_counts(self):
        """The measured effect: on counts made from known vectors, fit drives J near zero."""
        rng = np.random.default_rng(0)
        words, dim = 12, 4
        truth = rng.normal(0, 0.6, (words, dim))
        rows, cols = (grid.ravel() for grid in np.meshgrid(np.arange(words), np.arange(words), indexing="ij"))
        counts = np.exp(np.einsum("nd,nd->n", truth[rows], truth[cols]) + 2.0)  # log X = w_i . w_j + 2
        pairs = np.stack([rows, cols], axis=1).astype(np.int32)
        keras.utils.set_random_seed(0)
        model = GloVe(words, dim, seed=0)
        model.compile(optimizer=keras.optimizers.Adam(0.1), loss=GloVeLoss(x_max=10.0))
        before = float(model.evaluate(pairs, counts, batch_size=len(pairs), verbose=0))
        repeats = 20  # one epoch of 20 passes over the entries: one epoch's overhead, not 20
        model.fit(np.tile(pairs, (repeats, 1)), np.tile(counts, repeats), batch_size=36, epochs=1, verbose=0)
        after = float(model.evaluate(pairs, counts, batch_size=len(pairs), verbose=0))
        assert after < before / 50, (before, after)

    @keras_optimizer_not_allowlisted
    def test_round_trip_through_the_safe_loader(self, tmp_path, parameters):
        model = GloVe(V, D, seed=2)
        model.compile(optimizer=paper_optimizer(), loss=GloVeLoss(x_max=50.0, alpha=0.5))
        model.fit(PAIRS, COUNTS, batch_size=4, epochs=1, verbose=0)
        loaded = reload(model, tmp_path)
        assert isinstance(loaded, GloVe) and loaded.get_config() == model.get_config()
        assert isinstance(loaded.loss, GloVeLoss) and (loaded.loss.x_max, loaded.loss.alpha) == (50.0, 0.5)
        np.testing.assert_array_equal(loaded.word_vectors(), model.word_vectors())
        np.testing.assert_array_equal(numpy(loaded(PAIRS)), numpy(model(PAIRS)))

    def test_bad_arguments(self):
        with pytest.raises(
            ValueError, match="embedding_dim must be a positive integer. Received: embedding_dim=0"
        ):
            GloVe(V, 0)
