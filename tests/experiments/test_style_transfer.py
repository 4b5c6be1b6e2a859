"""experiments.style_transfer: a tiny run lowers the style cost and logs it; a bad flag is one error line.

The tiny run is a real subprocess on two 64 x 64 images drawn here (a smooth
gradient for content, hard stripes for style), with a 16-filter random
network, killed in its second epoch and resumed. The slow test runs
scikit-image's chelsea and gravel at 128 px and checks the issue's goal:
the style cost down at least tenfold while the content cost stays below
the style image's own (J_content(C, G) < J_content(C, S)).
"""

import os
import signal

import numpy as np
import pytest
import tensorflow as tf

from experiments import style_transfer
from kerasdl.harness.results import read_results
from pipelines.sources import data_home
from tests.events import scalar_points, tag_steps
from tests.runs import run_experiment

STEPS, EVERY = 20, 10


def write_png(path, image: np.ndarray) -> str:
    path.write_bytes(tf.io.encode_png((np.clip(image, 0, 1) * 255).astype("uint8")).numpy())
    return str(path)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """(content path, style path): a 80 x 64 colour gradient (cropped to its centre) and grey stripes."""
    folder = tmp_path_factory.mktemp("images")
    y, x = np.mgrid[0:64, 0:80] / 63.0
    content = np.stack([x / x.max(), y, 1 - y], axis=-1)
    stripes = (np.sin(x * 25 + y * 10) > 0).astype("float32")[:, :64]
    return write_png(folder / "content.png", content), write_png(folder / "style.png", stripes[..., None])


@pytest.fixture(scope="module")
def tiny_run(images, tmp_path_factory):
    logdir = tmp_path_factory.mktemp("logs")
    flags = ["--content", images[0], "--style", images[1], "--size", "64", "--filters", "16"]
    flags += ["--steps", str(STEPS), "--image-every", str(EVERY), "--run-name", "tiny", "--tv-weight", "1"]
    # Killed in the second epoch (SIGKILL: no backup of it), then resumed: the run must still be whole.
    killed = run_experiment("style_transfer", logdir, *flags, stop="batch:15:SIGKILL")
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    result = run_experiment("style_transfer", logdir, *flags, "--resume")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resumed from" in result.stdout
    return logdir / "style_transfer" / "tiny"


def test_a_tiny_resumed_run_lowers_the_style_cost_and_logs_every_step_once(tiny_run):
    results = read_results(tiny_run)
    metrics = results["metrics"]
    assert metrics["final_style_cost"] < metrics["initial_style_cost"]
    assert metrics["style_reduction"] == pytest.approx(
        metrics["initial_style_cost"] / metrics["final_style_cost"]
    )
    costs = results["curves"]["costs"]
    for tag in ("content_cost", "style_cost", "total_cost", "total_variation"):
        assert [step for step, _ in costs[tag]] == list(range(STEPS + 1)), tag
        # TensorBoard's reader keeps a sample of 10 points per tag: the last one is among them.
        assert scalar_points(tiny_run / "costs", tag)[-1] == (STEPS, pytest.approx(costs[tag][-1][1])), tag
    assert costs["style_cost"][0][1] == metrics["initial_style_cost"]
    assert costs["style_cost"][-1][1] == metrics["final_style_cost"]
    assert costs["total_cost"][-1][1] < costs["total_cost"][0][1]
    # C, S and G side by side, at step 0 and every --image-every steps, each once (one run, resumed)
    assert [p.name for p in tiny_run.parent.iterdir()] == ["tiny"]
    assert tag_steps(tiny_run / "images", "content_style_generated") == [0, EVERY, STEPS]
    generated = tf.io.decode_png((tiny_run / "generated.png").read_bytes()).numpy()
    assert generated.shape == (64, 64, 3)
    assert set(results["details"]["layer_style_costs"]) == {"conv3x3", "conv5x5", "conv7x7", "conv11x11"}
    assert "| J_style(S, G) |" in (tiny_run / "summary.md").read_text()


def one_error_line(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exit_info:
        style_transfer.main(argv)
    assert exit_info.value.code == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith("error: "), errors
    return errors[0]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--weights", "/nonexistent/vgg19.h5"], "--weights /nonexistent/vgg19.h5: no such file."),
        (["--network", "multiscale", "--weights", "w.h5"], "use them with --network vgg19"),
        (["--steps", "25", "--image-every", "10"], "--steps must be a multiple of --image-every (10)"),
        (["--style-layers", "conv3x3:heavy"], "--style-layers must be comma-separated layer:weight pairs"),
        (["--style-layers", "block1_conv1:1"], "random_multiscale_features has no layer 'block1_conv1'"),
        (["--beta", "-1"], "--beta must be a number >= 0; received -1.0"),
        (["--style", "picasso"], "--style must be one of ('chelsea', 'astronaut', 'coffee', 'gravel'"),
    ],
)
def test_bad_flags_are_one_error_line(images, tmp_path, capsys, flags, message):
    argv = ["--logdir", str(tmp_path), "--content", images[0], "--style", images[1], "--size", "32", *flags]
    error = one_error_line(capsys, argv)
    assert message in error, error
    assert not (tmp_path / "style_transfer").exists()  # refused before a run directory was made


def test_an_image_file_tensorflow_cannot_decode_is_one_error_line(images, tmp_path, capsys):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture")
    argv = ["--logdir", str(tmp_path), "--content", str(broken), "--style", images[1]]
    assert "--content " + str(broken) + ": TensorFlow cannot decode" in one_error_line(capsys, argv)


@pytest.mark.slow
def test_scikit_images_photo_takes_on_the_texture_tenfold_within_bounds(tmp_path):
    if not (data_home() / style_transfer.SKIMAGE_DIR / "gravel.png").is_file():
        if os.environ.get("KERASDL_REQUIRE_DATA"):
            pytest.fail("scikit-image's sample images are missing: run `make data`")
        pytest.skip("scikit-image's sample images are missing: run `make data`")
    flags = ["--content", "chelsea", "--style", "gravel", "--size", "128", "--steps", "40", "--run-name", "r"]
    result = run_experiment("style_transfer", tmp_path, *flags)
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = read_results(tmp_path / "style_transfer" / "r")["metrics"]
    assert metrics["style_reduction"] >= 10
    assert metrics["final_content_cost"] < metrics["content_cost_of_style_image"]
