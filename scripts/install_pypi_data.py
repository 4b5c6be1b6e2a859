"""Unpacks the offline data (texts, sample images) that PyPI packages ship into kerasdl's data folder.

Three packages carry data kerasdl uses, and none needs to be installed:

- gensim 4.3.3's wheel ships `gensim/test/test_data/questions-words.txt` (the
  Google analogy set, 19,544 questions), `wordsim353.tsv` and `simlex999.txt`
  (word-similarity ratings by people);
- vaderSentiment 3.3.2's source archive ships `additional_resources/
  hutto_ICWSM_2014.tar.gz`: 23,699 English texts (movie-review snippets,
  Amazon-review snippets, New York Times editorial snippets, tweets), each
  rated for sentiment from -4 to +4 by 20 people (Hutto & Gilbert, ICWSM 2014;
  MIT licence). The `*_GroundTruth.txt` files hold the mean rating.
- scikit-image 0.25.2's wheel ships sample images in `skimage/data/`; the
  style-transfer experiment uses six (licences as scikit-image's
  `skimage/data/_fetchers.py` states them): the photos astronaut.png (Eileen
  Collins, NASA, public domain), chelsea.png (a cat, CC0, Stefan van der
  Walt) and coffee.png (CC0, Rachel Michetti), and the grey textures
  brick.png, grass.png and gravel.png (CC0, from CC0Textures and
  DeviantArt). Each is checked against the SHA-256 that scikit-image's own
  registry (`skimage/data/_registry.py`) records for it.

The files land in `$KERASDL_DATA_DIR` (default `~/.cache/kerasdl`), under
`gensim-4.3.3/`, `vader-3.3.2/` and `scikit-image-0.25.2/`. `pip download` needs the package index once;
without it this prints what is missing and exits 0, and the experiments that
need the files say so when they run.

Run: python scripts/install_pypi_data.py
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from pipelines.sources import data_home

GENSIM = "gensim==4.3.3"
GENSIM_FILES = ("questions-words.txt", "wordsim353.tsv", "simlex999.txt")
VADER = "vaderSentiment==3.3.2"
VADER_FILES = (
    "movieReviewSnippets_GroundTruth.txt",
    "amazonReviewSnippets_GroundTruth.txt",
    "nytEditorialSnippets_GroundTruth.txt",
    "tweets_GroundTruth.txt",
    "_README_.txt",
)
SKIMAGE = "scikit-image==0.25.2"
# SHA-256 of each image, as scikit-image 0.25.2's skimage/data/_registry.py lists it.
SKIMAGE_IMAGES = {
    "astronaut.png": "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    "chelsea.png": "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    "coffee.png": "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    "brick.png": "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf",
    "grass.png": "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89",
    "gravel.png": "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12",
}


def pip_download(requirement: str, into: Path, *options: str) -> Path:
    """Downloads one distribution file without its dependencies; returns its path."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(into), *options]
    subprocess.run([*command, requirement], check=True)
    (found,) = list(into.iterdir())
    return found


def install_gensim_files(target: Path, scratch: Path) -> None:
    wheel = pip_download(
        GENSIM, scratch, "--only-binary", ":all:", "--python-version", "3.11",
        "--platform", "manylinux_2_17_x86_64",
    )  # fmt: skip
    with zipfile.ZipFile(wheel) as archive:
        for name in GENSIM_FILES:
            write(target / name, archive.read(f"gensim/test/test_data/{name}"))


def install_vader_files(target: Path, scratch: Path) -> None:
    sdist = pip_download(VADER, scratch, "--no-binary", ":all:")
    with tarfile.open(sdist) as outer:
        (member,) = [m for m in outer.getmembers() if m.name.endswith("hutto_ICWSM_2014.tar.gz")]
        inner_bytes = outer.extractfile(member).read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        members = {Path(m.name).name: m for m in inner.getmembers() if m.isfile()}
        for name in VADER_FILES:
            write(target / name, inner.extractfile(members[name]).read())


def install_skimage_images(target: Path, scratch: Path) -> None:
    wheel = pip_download(
        SKIMAGE, scratch, "--only-binary", ":all:", "--python-version", "3.11",
        "--platform", "manylinux_2_17_x86_64",
    )  # fmt: skip
    with zipfile.ZipFile(wheel) as archive:
        for name, digest in SKIMAGE_IMAGES.items():
            data = archive.read(f"skimage/data/{name}")
            if hashlib.sha256(data).hexdigest() != digest:
                raise ValueError(f"{name} in {wheel.name} does not have the SHA-256 scikit-image lists")
            write(target / name, data)


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


def main() -> int:
    home = data_home()
    steps = [
        (home / "gensim-4.3.3", GENSIM_FILES, install_gensim_files, GENSIM),
        (home / "vader-3.3.2", VADER_FILES, install_vader_files, VADER),
        (home / "scikit-image-0.25.2", tuple(SKIMAGE_IMAGES), install_skimage_images, SKIMAGE),
    ]
    for target, names, install, requirement in steps:
        if all((target / name).is_file() for name in names):
            continue
        print(f"kerasdl: unpacking {requirement}'s data files into {target}")
        try:
            with tempfile.TemporaryDirectory() as scratch:
                install(target, Path(scratch))
        except (subprocess.CalledProcessError, KeyError, ValueError, OSError) as error:
            print(f"kerasdl: could not get {requirement}'s data files ({error}); "
                  f"the experiments that need them will say so", file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
