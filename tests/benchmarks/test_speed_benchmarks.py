"""The speed benchmarks run end to end on tiny settings and print `name: value` lines with finite,
positive figures (their sizes, not their timings, are what these tests shrink)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks import augmentation, layers, mixed_precision, optimizers, training_loop
from pipelines.augment import Augmenter
from pipelines.sources import fashion_mnist


def figures(output: str) -> dict[str, float]:
    lines = [line for line in output.splitlines() if line and not line.startswith(" ")]
    parsed = dict(line.split(": ", 1) for line in lines)
    return {name: float(value) for name, value in parsed.items()}


@pytest.mark.parametrize(
    "module, argv, names",
    [
        (layers, ["--width", "16", "--batch-size", "8", "--calls", "1", "--repeats", "3"],
         ["layers_train_step_ratio_jit_off", "layers_train_step_ratio_jit_on"]),
        (optimizers, ["--calls", "1", "--repeats", "3", "--optimizers", "adam"],
         ["adam_update_ratio_jit_off", "adam_update_ratio_jit_on"]),
        (training_loop, ["--images", "256", "--batch-size", "64", "--rounds", "1", "--epochs", "1"],
         ["custom_loop_vs_fit_epoch_time_ratio_jit_off", "custom_loop_vs_fit_epoch_cpu_time_ratio_jit_on"]),
        (augmentation, ["--images", "512", "--epochs", "1", "--repeats", "1"],
         ["augment_batched_vs_per_image_speedup", "augment_batched_vs_tf_image_speedup",
          "batched_iterator_start_ms", "online_pipeline_epoch_ratio"]),
        (mixed_precision, ["--networks", "stride2_no_bn,stride1_bn_from_stage3", "--batch-size", "8",
                           "--calls", "1", "--repeats", "3"],
         ["train_step_ratio_stride2_no_bn", "train_step_ms_mixed_bfloat16_stride1_bn_from_stage3"]),
    ],
    ids=["layers", "optimizers", "training_loop", "augmentation", "mixed_precision"],
)  # fmt: skip
def test_benchmark_prints_its_ratios(module, argv, names, capsys, request):
    if module in (training_loop, augmentation):
        request.getfixturevalue("fashion_mnist_all")  # it reads Fashion-MNIST
    assert module.main(argv) == 0
    printed = figures(capsys.readouterr().out)
    printed.pop("cpu_has_amx_bf16", None)  # a flag, 0 on a CPU without AMX
    for name in names:
        assert name in printed, (name, sorted(printed))
    assert all(math.isfinite(value) and value > 0 for value in printed.values()), printed


def test_augmentation_baselines_cut_the_same_kind_of_windows(fashion_mnist_all):
    """Both per-image baselines do the batched pipeline's work: a 24x24 window per image, maybe mirrored."""
    source = fashion_mnist("train").take(np.arange(16))
    augmenter = Augmenter.from_spec("crop=0,flip=0.5", crop_size=(24, 24))
    assert augmentation.is_crop_and_mirror(augmenter)
    assert not augmentation.is_crop_and_mirror(Augmenter.from_spec("crop=2,flip=0.5", crop_size=(24, 24)))
    for dataset in (
        augmentation.per_image_dataset(source, augmenter, 8, seed=0),
        augmentation.tf_image_dataset(source, 24, 0.5, 8, seed=0),
    ):
        outputs = np.concatenate([batch.numpy() for batch in dataset])
        assert outputs.shape == (16, 24, 24, 1) and outputs.dtype == np.float32
        mirrored = 0
        for image, out in zip(source.images.astype(np.float32), outputs, strict=True):
            windows = [image[t : t + 24, u : u + 24] for t in range(5) for u in range(5)]
            plain = any(np.array_equal(out, w) for w in windows)
            flipped = any(np.array_equal(out, w[:, ::-1]) for w in windows)
            assert plain or flipped
            mirrored += flipped and not plain
        assert 0 < mirrored < 16  # mirrored about half the time, not never or always
