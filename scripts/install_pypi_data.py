"""Unpacks the offline text data that PyPI packages ship into kerasdl's data folder.

Two packages carry data kerasdl uses, and neither needs to be installed:

- gensim 4.3.3's wheel ships `gensim/test/test_data/questions-words.txt` (the
  Google analogy set, 19,544 questions), `wordsim353.tsv` and `simlex999.txt`
  (word-similarity ratings by people);
- vaderSentiment 3.3.2's source archive ships `additional_resources/
  hutto_ICWSM_2014.tar.gz`: 23,699 English texts (movie-review snippets,
  Amazon-review snippets, New York Times editorial snippets, tweets), each
  rated for sentiment from -4 to +4 by 20 people (Hutto & Gilbert, ICWSM 2014;
  MIT licence). The `*_GroundTruth.txt` files hold the mean rating.

The files land in `$KERASDL_DATA_DIR` (default `~/.cache/kerasdl`), under
`gensim-4.3.3/` and `vader-3.3.2/`. `pip download` needs the package index once;
without it this prints what is missing and exits 0, and the experiments that
need the files say so when they run.

Run: python scripts/install_pypi_data.py
"""

from __future__ import annotations

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
