#!/usr/bin/env bash
# Installs Debian's dataset-fashion-mnist (the offline default dataset) when it
# is missing and this machine can install Debian packages.
set -euo pipefail
dir=${KERASDL_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
if [ -f "$dir/train-images-idx3-ubyte.gz" ] && [ -f "$dir/t10k-labels-idx1-ubyte.gz" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "kerasdl: Fashion-MNIST is not in $dir and apt-get is not available." >&2
    echo "kerasdl: copy the four IDX .gz files there, or set KERASDL_FASHION_MNIST_DIR." >&2
    exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "kerasdl: run 'apt-get install dataset-fashion-mnist' as root to get the offline dataset." >&2
        exit 0
    fi
fi
echo "kerasdl: installing Debian's dataset-fashion-mnist"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null
