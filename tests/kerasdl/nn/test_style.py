"""kerasdl.nn.style: the lesson's costs against loops in NumPy, their gradients, and descent on the pixels.

The oracle is written here, separately: the Gram matrix as a double loop over
channel pairs, each cost as the lesson's sum in float64. Gradients are
checked by central finite differences (`tests.backends.jacobians`, the
backend-neutral `tf.test.compute_gradient`), so the file runs on every Keras
backend; TensorFlow's `tf.image.total_variation` is a second oracle where
TensorFlow is installed.
"""

import keras
import numpy as np
import pytest

from kerasdl.nn import style
from kerasdl.nn.autodiff import value_and_gradients
from tests.backends.jacobians import compute_gradient

RNG = np.random.default_rng(0)


# -- the NumPy oracle ----------------------------------------------------------------------------------


def numpy_gram(a: np.ndarray) -> np.ndarray:
    """G_kk' = sum_i sum_j a_ijk a_ijk', one channel pair at a time."""
    n_c = a.shape[-1]
    gram = np.zeros((n_c, n_c))
    for k in range(n_c):
        for k2 in range(n_c):
            gram[k, k2] = np.sum(a[:, :, k] * a[:, :, k2])
    return gram


def numpy_content_cost(a_c: np.ndarray, a_g: np.ndarray) -> float:
    n_h, n_w, n_c = a_c.shape
    return float(np.sum((a_c - a_g) ** 2) / (4 * n_h * n_w * n_c))


def numpy_layer_style_cost(a_s: np.ndarray, a_g: np.ndarray) -> float:
    n_h, n_w, n_c = a_s.shape
    return float(np.sum((numpy_gram(a_s) - numpy_gram(a_g)) ** 2) / (4 * n_c**2 * (n_h * n_w) ** 2))


def numpy_total_variation(images: np.ndarray) -> float:
    """The sum of absolute differences of vertical and horizontal neighbours, one pixel pair at a time."""
    images = np.asarray(images, np.float64)
    n_h, n_w = images.shape[-3], images.shape[-2]
    total = 0.0
    for i in range(n_h):
        for j in range(n_w):
            if i + 1 < n_h:
                total += np.abs(images[..., i + 1, j, :] - images[..., i, j, :]).sum()
            if j + 1 < n_w:
                total += np.abs(images[..., i, j + 1, :] - images[..., i, j, :]).sum()
    return total


def activations(*shape) -> np.ndarray:
    return np.maximum(RNG.normal(size=shape), 0.0)  # ReLU-like: non-negative, many zeros


def numbers(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x).astype("float64")


# -- the costs -----------------------------------------------------------------------------------------


class TestCosts:
    def test_gram_matrix_is_the_double_sum_over_positions(self):
        a = activations(5, 4, 3)
        np.testing.assert_allclose(numbers(style.gram_matrix(a)), numpy_gram(a), rtol=1e-5)
        batch = activations(2, 5, 4, 3)
        gram = numbers(style.gram_matrix(batch))
        assert gram.shape == (2, 3, 3)
        for image in range(2):
            np.testing.assert_allclose(gram[image], numpy_gram(batch[image]), rtol=1e-5)

    def test_content_cost_is_the_lessons_normalised_squared_distance(self):
        a_c, a_g = activations(6, 5, 4), activations(6, 5, 4)
        assert float(style.content_cost(a_c, a_g)) == pytest.approx(numpy_content_cost(a_c, a_g), rel=1e-5)
        assert float(style.content_cost(a_c, a_c)) == 0.0

    def test_layer_style_cost_is_the_lessons_gram_distance(self):
        a_s, a_g = activations(6, 5, 4), activations(6, 5, 4)
        expected = numpy_layer_style_cost(a_s, a_g)
        assert float(style.layer_style_cost(a_s, a_g)) == pytest.approx(expected, rel=1e-5)
        # Style ignores where things are: the same activations shuffled in space have the same Gram matrix.
        shuffled = a_s.reshape(-1, 4)[RNG.permutation(30)].reshape(6, 5, 4)
        assert float(style.layer_style_cost(a_s, shuffled)) == pytest.approx(0.0, abs=1e-9)

    def test_style_cost_weights_the_layers(self):
        shapes = [(8, 8, 3), (4, 4, 5)]
        a_s = [activations(*shape) for shape in shapes]
        a_g = [activations(*shape) for shape in shapes]
        weights = [0.3, 0.7]
        expected = sum(w * numpy_layer_style_cost(s, g) for w, s, g in zip(weights, a_s, a_g, strict=True))
        assert float(style.style_cost(a_s, a_g, weights)) == pytest.approx(expected, rel=1e-5)
        with pytest.raises(ValueError, match="one entry per layer. Received: 2, 2 and 1"):
            style.style_cost(a_s, a_g, [1.0])

    def test_a_batch_costs_the_mean_of_its_images(self):
        a_c, a_g = activations(2, 4, 4, 3), activations(2, 4, 4, 3)
        content = np.mean([numpy_content_cost(a_c[i], a_g[i]) for i in range(2)])
        layer_style = np.mean([numpy_layer_style_cost(a_c[i], a_g[i]) for i in range(2)])
        assert float(style.content_cost(a_c, a_g)) == pytest.approx(content, rel=1e-5)
        assert float(style.layer_style_cost(a_c, a_g)) == pytest.approx(layer_style, rel=1e-5)

    def test_total_variation_is_the_neighbour_sum_per_pixel_value(self):
        images = RNG.uniform(size=(2, 7, 6, 3)).astype("float32")
        expected = np.mean([numpy_total_variation(image) for image in images]) / (7 * 6 * 3)
        assert float(style.total_variation(images)) == pytest.approx(expected, rel=1e-5)
        assert float(style.total_variation(np.ones((5, 5, 3)))) == 0.0

    def test_total_variation_is_tf_image_total_variation_per_pixel_value(self):
        tf = pytest.importorskip("tensorflow")
        images = RNG.uniform(size=(2, 7, 6, 3)).astype("float32")
        expected = tf.image.total_variation(tf.constant(images)).numpy() / (7 * 6 * 3)
        assert float(style.total_variation(images)) == pytest.approx(float(np.mean(expected)), rel=1e-5)

    def test_activations_of_another_rank_are_refused(self):
        with pytest.raises(ValueError, match=r"Received: shape=\(3, 4\)"):
            style.gram_matrix(np.ones((3, 4)))

    @pytest.mark.parametrize("cost", ["content", "style"])
    def test_gradients_equal_finite_differences(self, cost):
        a_target = keras.ops.convert_to_tensor(activations(3, 4, 2), dtype="float64")
        a_generated = activations(3, 4, 2) + 0.1
        function = style.content_cost if cost == "content" else style.layer_style_cost
        theoretical, numerical = compute_gradient(lambda a: function(a_target, a), [a_generated])
        np.testing.assert_allclose(theoretical[0], numerical[0], rtol=1e-5, atol=1e-8)
        assert np.abs(theoretical[0]).max() > 1e-4  # a gradient worth checking

    def test_content_gradient_is_the_lessons_derivative(self):
        # dJ/da^(G) = (a^(G) - a^(C)) / (2 n_H n_W n_C)
        a_c, a_g = activations(3, 4, 2), activations(3, 4, 2)
        _, (gradient,) = value_and_gradients(lambda a: style.content_cost(a_c, a), [a_g])
        np.testing.assert_allclose(gradient, (a_g - a_c) / (2 * 3 * 4 * 2), rtol=1e-10)


# -- networks --------------------------------------------------------------------------------------------


def test_vgg_preprocess_is_keras_vgg19_preprocess_input():
    images = RNG.uniform(size=(2, 5, 5, 3)).astype("float32")
    expected = keras.applications.vgg19.preprocess_input(images * 255.0)
    np.testing.assert_allclose(numbers(style.VGGPreprocess()(images)), expected, rtol=1e-5, atol=1e-3)


def test_random_multiscale_features_are_fixed_and_seeded():
    network = style.random_multiscale_features(filters=4, kernel_sizes=(3, 5), seed=1)
    assert [layer.name for layer in network.layers[2:]] == ["conv3x3", "conv5x5"]
    assert not network.trainable_weights
    images = RNG.uniform(size=(1, 9, 9, 3)).astype("float32")
    again = style.random_multiscale_features(filters=4, kernel_sizes=(3, 5), seed=1)
    for a, b in zip(network(images), again(images), strict=True):
        np.testing.assert_array_equal(numbers(a), numbers(b))
    with pytest.raises(ValueError, match="filters=0"):
        style.random_multiscale_features(filters=0)


@pytest.mark.slow  # three VGG-19s and an 80 MB file: seconds on a loaded machine
def test_vgg19_from_a_weights_file_equals_the_network_it_was_saved_from(tmp_path):
    random = style.vgg19_features(seed=3)
    assert not random.trainable_weights
    # He-normal kernels: the variance is 2 / fan_in in every layer, the first and the last.
    for name in ("block1_conv1", "block5_conv4"):
        kernel = numbers(random.get_layer(name).kernel)
        assert np.var(kernel) == pytest.approx(2 / np.prod(kernel.shape[:3]), rel=0.05), name
    source = keras.applications.VGG19(include_top=False, weights=None)
    for layer in source.layers:
        if layer.weights:
            layer.set_weights(random.get_layer(layer.name).get_weights())
    path = tmp_path / "vgg19.weights.h5"
    source.save_weights(path)
    loaded = style.vgg19_features(str(path))
    images = RNG.uniform(size=(1, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(numbers(loaded(images)), numbers(random(images)), rtol=1e-5)
    with pytest.raises(FileNotFoundError, match="No VGG-19 weights file at"):
        style.vgg19_features(str(tmp_path / "missing.h5"))


def test_feature_extractor_names_the_valid_layers():
    network = style.random_multiscale_features(filters=2, kernel_sizes=(3,))
    extractor = style.feature_extractor(network, ["conv3x3", "vgg_preprocess"])
    assert [tuple(out.shape) for out in extractor(np.zeros((1, 4, 4, 3)))] == [(1, 4, 4, 2), (1, 4, 4, 3)]
    with pytest.raises(ValueError, match="has no layer 'block1_conv1'. Its layers: images, vgg_preprocess"):
        style.feature_extractor(network, ["block1_conv1"])


# -- gradient descent on G ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_problem():
    """A content and a style image of 24 x 24 px, and a multi-scale random network of 8 filters."""
    y, x = np.mgrid[0:24, 0:24] / 23.0
    content = np.stack([x, y, (x + y) / 2], axis=-1).astype("float32")  # smooth gradients
    stripes = (np.sin(x * 20) > 0).astype("float32")
    style_image = np.stack([stripes, 1 - stripes, stripes * 0.5], axis=-1)  # hard stripes
    return content, style_image, style.random_multiscale_features(filters=8, kernel_sizes=(3, 5), seed=0)


def make_model(small_problem, **kwargs) -> style.StyleTransfer:
    content, style_image, network = small_problem
    layers = {"conv3x3": 0.5, "conv5x5": 0.5}
    model = style.StyleTransfer(network, content, style_image, "conv3x3", layers, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    return model


def test_the_model_costs_are_the_lessons_costs_of_its_activations(small_problem):
    content, style_image, network = small_problem
    model = make_model(small_problem, alpha=2.0, beta=3.0, total_variation_weight=0.5, noise=0.1, seed=4)
    generated = model.generated_image()
    np.testing.assert_allclose(generated, style.initial_image(content, 0.1, 4), rtol=1e-6)
    assert (
        0 < np.abs(generated - content).max() <= 0.1 + 1e-6 and generated.min() >= 0 and generated.max() <= 1
    )
    act = {name: [numbers(o)[0] for o in network(image[None])] for name, image in
           {"C": content, "S": style_image, "G": generated}.items()}  # fmt: skip
    content_expected = numpy_content_cost(act["C"][0], act["G"][0])
    style_expected = sum(0.5 * numpy_layer_style_cost(act["S"][i], act["G"][i]) for i in range(2))
    tv_expected = numpy_total_variation(generated) / generated.size
    costs = {name: float(value) for name, value in model.costs().items()}
    assert costs["content_cost"] == pytest.approx(content_expected, rel=1e-4)
    assert costs["style_cost"] == pytest.approx(style_expected, rel=1e-4)
    assert costs["total_variation"] == pytest.approx(tv_expected, rel=1e-4)
    expected_total = 2.0 * content_expected + 3.0 * style_expected + 0.5 * tv_expected
    assert costs["total_cost"] == pytest.approx(expected_total, rel=1e-4)
    assert float(model.costs(content[None])["content_cost"]) == 0.0  # G = C: no content cost


def test_fit_descends_on_the_pixels_only_and_reports_each_steps_costs(small_problem):
    model = make_model(small_problem, beta=100.0)
    network_weights = [numbers(w) for w in small_problem[2].weights]
    before = {name: float(value) for name, value in model.costs().items()}
    history = model.fit(style.dummy_inputs(1), batch_size=1, epochs=1, verbose=0).history
    # The logged costs are those of G before the step (the latest value, not a running mean).
    assert history["style_cost"][0] == pytest.approx(before["style_cost"], rel=1e-5)
    assert history["total_cost"][0] == pytest.approx(before["total_cost"], rel=1e-5)
    model.fit(style.dummy_inputs(30), batch_size=1, epochs=1, verbose=0)
    after = {name: float(value) for name, value in model.costs().items()}
    assert after["style_cost"] < before["style_cost"] / 3
    assert after["total_cost"] < before["total_cost"]
    generated = model.generated_image()
    assert generated.min() >= 0.0 and generated.max() <= 1.0  # clipped after every step
    assert [v.name for v in model.trainable_variables] == ["generated_image"]
    for weight, value in zip(small_problem[2].weights, network_weights, strict=True):
        np.testing.assert_array_equal(numbers(weight), value)  # the network never trains


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"alpha": -1.0}, "alpha must be a number >= 0. Received: alpha=-1.0"),
        ({"style_layers": {"conv3x3": float("nan")}}, "style_layers\\['conv3x3'\\] must be a number >= 0"),
        ({"style_layers": {}}, "style_layers must name at least one layer"),
        ({"content_image": np.ones((8, 8))}, "content_image must be an RGB image"),
        ({"style_image": np.full((8, 8, 3), 255.0)}, "style_image must hold values in \\[0, 1\\]"),
    ],
)
def test_bad_arguments_are_refused(small_problem, kwargs, message):
    content, style_image, network = small_problem
    arguments = {"content_image": content, "style_image": style_image, "content_layer": "conv3x3",
                 "style_layers": {"conv3x3": 1.0}, **kwargs}  # fmt: skip
    with pytest.raises(ValueError, match=message):
        style.StyleTransfer(network, **arguments)
