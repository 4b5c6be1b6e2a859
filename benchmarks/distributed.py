"""Scaling out: training throughput of N workers against one, on this machine.

It runs the experiment users run, `python -m experiments.distributed` (the
main job's CNN on Fashion-MNIST, `kerasdl.training.multiworker.MultiWorkerLoop`),
first as one process (no TF_CONFIG: one worker) and then as `--workers`
processes of one MultiWorkerMirroredStrategy cluster on 127.0.0.1, and
reads the training throughput each run records in its results
(`images_per_second`: global-batch images per second over the training
steps, each epoch's first step and the per-epoch evaluation left out).

Weak scaling: every replica trains `--batch-size` images per step, so the
cluster's global batch is N times larger and a perfect cluster trains N
times as many images per second (ratio N). On one machine without
accelerators the ratio is below 1 instead, and the script says why: the
workers share the same CPU cores, each of which TensorFlow already keeps
busy within one process; every step adds an all-reduce of the gradients
between the processes (gRPC, here over localhost); and each worker runs the
whole input pipeline and keeps its share of every batch (DATA sharding).
The figure that matters comes from real hardware: a device per worker.

On a machine with several GPUs, `--gpu-per-worker` gives worker i the GPU i
alone (CUDA_VISIBLE_DEVICES); on several machines, run the experiment on
each (TF_CONFIG, see the README) and compare its `images_per_second`
with a one-machine run's. (GPU paths verified only on paper.)

Run:
    python benchmarks/distributed.py                    # 2 local workers against 1
    python benchmarks/distributed.py --workers 4 --gpu-per-worker --limit 60000 --batch-size 256

Output, one `name: value` line per figure, then the explanation:
    one_worker_images_per_second          training throughput of one process
    <n>_workers_images_per_second         of the cluster (all workers together)
    <n>_workers_vs_one_throughput_ratio   the second over the first (ideal: n)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from kerasdl.harness.results import read_results  # noqa: E402
from kerasdl.training.benchmarking import benchmark_parser, print_figures  # noqa: E402

EXPERIMENT = "distributed"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run_cluster(workers: int, flags: list[str], logdir: Path, gpu_per_worker: bool, timeout: float) -> dict:
    """Runs the experiment on `workers` local processes (one: no TF_CONFIG); returns the chief's metrics."""
    addresses = [f"127.0.0.1:{port}" for port in free_ports(workers)]
    processes, logs = [], []
    for index in range(workers):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        env.pop("KERASDL_STOP_AT", None)
        if workers > 1:
            config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
            env["TF_CONFIG"] = json.dumps(config)
        else:
            env.pop("TF_CONFIG", None)
        if gpu_per_worker:
            env["CUDA_VISIBLE_DEVICES"] = str(index)
        log = logdir / f"workers-{workers}-task-{index}.log"
        logs.append(log)
        command = [
            sys.executable,
            "-m",
            f"experiments.{EXPERIMENT}",
            "--logdir",
            str(logdir / str(workers)),
            "--run-name",
            "benchmark",
            *flags,
        ]
        with open(log, "w") as output:
            processes.append(
                subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
            )
    try:
        codes = [process.wait(timeout=timeout) for process in processes]
    except subprocess.TimeoutExpired:
        codes = [None]
    if codes != [0] * workers:
        for process in processes:
            process.kill()
        tails = "\n".join(f"== {log.name}\n{log.read_text()[-2000:]}" for log in logs)
        raise SystemExit(f"error: the {workers}-worker run failed (exit codes {codes}):\n{tails}")
    return read_results(logdir / str(workers) / EXPERIMENT / "benchmark")["metrics"]


def explanation(workers: int, ratio: float) -> list[str]:
    cores = os.cpu_count() or 1
    lines = [f"# {workers} workers on one machine with {cores} CPU cores and no accelerator:"]
    if ratio >= workers * 0.8:
        return lines + ["# near-linear scaling: each worker has hardware of its own."]
    return lines + [
        "# below the ideal, because the workers share the same cores (TensorFlow already uses every core",
        "# within one process), every step adds an all-reduce of the gradients between the processes",
        "# (gRPC over localhost), and each worker runs the whole input pipeline to keep its share of the",
        "# batch (DATA sharding). Scaling needs a device or a machine per worker.",
    ]


def main(argv=None) -> int:
    parser = benchmark_parser(__doc__)
    parser.add_argument("--workers", type=int, default=2, help="processes of the cluster compared with one")
    parser.add_argument("--limit", type=int, default=6144, help="training images per epoch")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each run")
    parser.add_argument("--batch-size", type=int, default=128, help="images per replica per step")
    parser.add_argument("--gpu-per-worker", action="store_true", help="worker i sees only GPU i")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds a run may take")
    args = parser.parse_args(argv)
    if args.workers < 2 or args.limit < 1 or args.epochs < 1 or args.batch_size < 1:
        parser.error("--workers must be at least 2, and --limit, --epochs, --batch-size at least 1")
    flags = [
        "--limit",
        str(args.limit),
        "--epochs",
        str(args.epochs),
        "--train-eval-size",
        "500",
        "--test-limit",
        "500",
    ]
    with tempfile.TemporaryDirectory(prefix="kerasdl-benchmark-") as logdir:
        one = run_cluster(
            1, [*flags, "--batch-size", str(args.batch_size)], Path(logdir), args.gpu_per_worker, args.timeout
        )
        many = run_cluster(
            args.workers,
            [*flags, "--batch-size", str(args.batch_size * args.workers)],
            Path(logdir),
            args.gpu_per_worker,
            args.timeout,
        )
    ratio = many["images_per_second"] / one["images_per_second"]
    print_figures(
        {
            "one_worker_images_per_second": f"{one['images_per_second']:.0f}",
            f"{args.workers}_workers_images_per_second": f"{many['images_per_second']:.0f}",
            f"{args.workers}_workers_vs_one_throughput_ratio": f"{ratio:.2f}",
        }
    )
    print("\n".join(explanation(args.workers, ratio)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
