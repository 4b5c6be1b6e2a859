"""The dashboards as a user sees them: quick runs, a real TensorBoard, headless Chromium.

Slow (three quick runs, a server and a browser): `pytest -m slow`, which CI
runs. Chromium comes from Debian (`make data` installs it); without it the
test is skipped, or fails under KERASDL_REQUIRE_DATA (CI), so a broken
install cannot pass silently.
"""

from __future__ import annotations

import os
import re

import pytest

from experiments.cli import quick_run
from kerasdl.diagnostics.images import FONT_SIZE
from kerasdl.harness.dashboards import (
    Browser,
    BrowserMissingError,
    chromium_path,
    get_json,
    tensorboard_server,
)

pytestmark = pytest.mark.slow

EXPERIMENTS = ("mismatch", "initialization", "char_lm")
GAP_NAMES = ("avoidable_bias", "variance", "data_mismatch", "dev_overfitting")


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    try:
        chromium_path()
        import playwright  # noqa: F401
    except (BrowserMissingError, ImportError) as error:
        if os.environ.get("KERASDL_REQUIRE_DATA"):
            pytest.fail(f"the browser is required here: {error}")
        pytest.skip(str(error))
    root = tmp_path_factory.mktemp("dashboards")
    for name in EXPERIMENTS:
        quick_run(name, root)
    return root


@pytest.fixture(scope="module")
def server(logdir):
    with tensorboard_server(logdir) as url:
        yield url


@pytest.fixture(scope="module")
def browser(server):
    with Browser() as browser:
        yield browser


def runs_of(tags: dict, experiment: str) -> dict:
    return {run: run_tags for run, run_tags in tags.items() if run.startswith(f"{experiment}/")}


class TestDataApi:
    """What each plugin serves, read the way the dashboards read it."""

    def test_every_experiment_has_curves_and_a_summary(self, server):
        scalars = get_json(server, "data/plugin/scalars/tags")
        text = get_json(server, "data/plugin/text/tags")
        for experiment in EXPERIMENTS:
            assert any("loss" in tags or "error" in tags for tags in runs_of(scalars, experiment).values())
            assert "summary" in text.get(f"{experiment}/quick/summary", []), sorted(text)

    def test_images_histograms_hparams_and_projector(self, server):
        images = get_json(server, "data/plugin/images/tags")
        assert runs_of(images, "mismatch")
        histograms = get_json(server, "data/plugin/histograms/tags")
        assert runs_of(histograms, "mismatch") and runs_of(histograms, "initialization")
        projector_runs = get_json(server, "data/plugin/projector/runs")
        assert any(run.startswith("mismatch/") for run in projector_runs), projector_runs

    def test_main_job_examples_are_one_grid(self, server):
        images = get_json(server, "data/plugin/images/tags")
        examples = {
            tag: info for run, tags in runs_of(images, "mismatch").items() for tag, info in tags.items()
        }
        example_tags = [tag for tag in examples if tag.startswith("examples")]
        assert len(example_tags) == 1 and examples[example_tags[0]]["samples"] == 1, examples


class TestRendered:
    def test_gaps_chart_has_four_named_lines_in_four_colours(self, server, browser):
        page = browser.open(server, "custom_scalars", query="?runFilter=mismatch")
        charts = browser.custom_scalar_charts(page)
        gaps = [chart for chart in charts if all(name in chart.text for name in GAP_NAMES)]
        assert gaps, [chart.text[:200] for chart in charts]
        chart = gaps[0]
        assert len(chart.colours) == 4, chart

    def test_captions_are_not_shrunk(self, server, browser):
        page = browser.open(server, "images")
        scales = browser.image_scales(page)
        captioned = [(src, scale) for src, scale in scales if re.search("top_losses|label_issues", _tag(src))]
        assert captioned, scales
        for src, scale in captioned:
            assert FONT_SIZE * scale >= 9, (_tag(src), scale)

    def test_text_hparams_and_projector_dashboards_render(self, server, browser):
        # Over 40 runs: TensorBoard selects none until a run filter (regexInput) narrows them.
        text = browser.text(browser.open(server, "text&tagFilter=summary&regexInput=mismatch"))
        assert "avoidable bias" in text and "Focus:" in text
        hparams = browser.text(browser.open(server, "hparams"))
        assert "synthesis_strength" in hparams and "dev_error" in hparams
        projector = browser.text(browser.open(server, "projector"))
        assert "points" in projector.lower()


def _tag(src: str) -> str:
    """The tag inside an image URL's blob key (base64 JSON)."""
    import base64
    import urllib.parse

    key = urllib.parse.parse_qs(urllib.parse.urlparse(src).query).get("blob_key", [""])[0]
    return base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)).decode(errors="replace")
