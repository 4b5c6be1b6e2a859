"""Debiasing word embeddings: the bias direction, neutralize, equalize, hard debiasing, and what survives it.

Course 5, Week 2, "Debiasing word embeddings" (Bolukbasi et al. 2016, "Man
is to computer programmer as woman is to homemaker? Debiasing word
embeddings"). Embeddings learn the biases of the text they are trained
on; the lesson removes one bias (gender) in three steps:

1. Identify the bias direction g (`bias_direction`). The course's
   simplest form is a difference, g = e_woman - e_man (`method="average"`
   averages e_a - e_b over the definitional pairs; with the one pair
   ("woman", "man") it is exactly that). Bolukbasi et al. take the first
   principal component of the pairs' centred differences (`method="pca"`):
   for each pair (a, b) with centre c = (e_a + e_b) / 2, the rows e_a - c
   and e_b - c; g is the top right singular vector of those rows, a unit
   vector, here signed to point from the second words of the pairs to
   the first (from "man" to "woman").
2. Neutralize every word that is not definitional ("doctor", "babysitter"):
   remove its projection on g, e - (e . g / ||g||^2) g (`neutralize`).
3. Equalize pairs that should differ only along g ("grandmother",
   "grandfather"), so that every neutralized word is equally far from both
   (`equalize`, the course's formulas, written out in
   `kerasdl.scratch.debias`): with mu = (e_w1 + e_w2) / 2 split into mu_B
   (along g) and mu_orth, each word becomes mu_orth plus
   sqrt(|1 - ||mu_orth||^2|) times its own direction along g, divided by
   ||(e_w - mu_orth) - mu_B||. Bolukbasi et al. divide by ||e_wB - mu_B||
   instead (`variant="bolukbasi"`), which keeps unit vectors on the unit
   sphere; both give a pair symmetric about the subspace orthogonal to g.

`hard_debias` is Bolukbasi et al.'s whole procedure ("hard debiasing",
their `debiaswe/debias.py`): unit-normalise every vector, find g by PCA,
neutralize every word outside a gender-specific list, normalise, equalize
the pairs (each in lower, title and upper case), normalise again.

Gonen and Goldberg (2019, "Lipstick on a pig: debiasing methods cover up
systematic gender biases in word embeddings but do not remove them")
showed that the bias is still there after hard debiasing: take the words
most biased along g in the ORIGINAL space (500 each side), cluster their
DEBIASED vectors into two clusters with k-means, and the clusters still
match the original sides (about 92% for hard-debiased GloVe; 50% would
mean nothing is left). `clustering_bias` measures that.

NumPy, vectorised over words: this is arithmetic on a trained matrix
(`kerasdl.nn.word_vectors.WordVectors`), nothing is differentiated.

References:
- Bolukbasi, Chang, Zou, Saligrama and Kalai, NeurIPS 2016; word lists from
  github.com/tolga-b/debiaswe (data/definitional_pairs.json,
  data/equalize_pairs.json, data/gender_specific_seed.json).
- Gonen and Goldberg, NAACL 2019.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from kerasdl.nn.word_vectors import WordVectors

# Bolukbasi et al.'s definitional pairs (data/definitional_pairs.json), female word first, lowercased.
DEFINITIONAL_PAIRS: tuple[tuple[str, str], ...] = (
    ("woman", "man"), ("girl", "boy"), ("she", "he"), ("mother", "father"), ("daughter", "son"),
    ("gal", "guy"), ("female", "male"), ("her", "his"), ("herself", "himself"), ("mary", "john"),
)  # fmt: skip
# Bolukbasi et al.'s equalize pairs (data/equalize_pairs.json), in their order.
EQUALIZE_PAIRS: tuple[tuple[str, str], ...] = (
    ("monastery", "convent"), ("spokesman", "spokeswoman"), ("Catholic_priest", "nun"), ("Dad", "Mom"),
    ("Men", "Women"), ("councilman", "councilwoman"), ("grandpa", "grandma"), ("grandsons", "granddaughters"),
    ("prostate_cancer", "ovarian_cancer"), ("testosterone", "estrogen"), ("uncle", "aunt"),
    ("wives", "husbands"), ("Father", "Mother"), ("Grandpa", "Grandma"), ("He", "She"), ("boy", "girl"),
    ("boys", "girls"), ("brother", "sister"), ("brothers", "sisters"), ("businessman", "businesswoman"),
    ("chairman", "chairwoman"), ("colt", "filly"), ("congressman", "congresswoman"), ("dad", "mom"),
    ("dads", "moms"), ("dudes", "gals"), ("ex_girlfriend", "ex_boyfriend"), ("father", "mother"),
    ("fatherhood", "motherhood"), ("fathers", "mothers"), ("fella", "granny"), ("fraternity", "sorority"),
    ("gelding", "mare"), ("gentleman", "lady"), ("gentlemen", "ladies"), ("grandfather", "grandmother"),
    ("grandson", "granddaughter"), ("he", "she"), ("himself", "herself"), ("his", "her"), ("king", "queen"),
    ("kings", "queens"), ("male", "female"), ("males", "females"), ("man", "woman"), ("men", "women"),
    ("nephew", "niece"), ("prince", "princess"), ("schoolboy", "schoolgirl"), ("son", "daughter"),
    ("sons", "daughters"), ("twin_brother", "twin_sister"),
)  # fmt: skip
# Words that carry gender by definition and are not neutralized: the one-word entries of Bolukbasi et al.'s
# seed list (data/gender_specific_seed.json, 218 words; their learned full list has 1,441).
GENDER_SPECIFIC: tuple[str, ...] = tuple(
    """
    actress actresses aunt aunts bachelor ballerina barbershop baritone beard beards beau bloke blokes
    boy boyfriend boyfriends boyhood boys brethren bride brides brother brotherhood brothers bull bulls
    businessman businessmen businesswoman chairman chairwoman chap colt colts congressman congresswoman
    convent councilman councilmen councilwoman countryman countrymen czar dad daddy dads daughter
    daughters deer diva dowry dude dudes estrogen father fathered fatherhood fathers fella fellas female
    females feminism fiance fiancee fillies filly fraternal fraternities fraternity gal gals gelding
    gentleman gentlemen girl girlfriend girlfriends girls goddess godfather granddaughter granddaughters
    grandfather grandma grandmother grandmothers grandpa grandson grandsons guy handyman he heiress hen
    hens her heroine hers herself him himself his horsemen hostess housewife housewives hubby husband
    husbands king kings lad ladies lads lady lesbian lesbians lion lions ma macho maid maiden maids male
    males mama man mare maternal maternity matriarch men menopause mistress mom mommy moms monastery
    monk monks mother motherhood mothers nephew nephews niece nieces nun nuns obstetrics pa paternity
    penis prince princes princess prostate queen queens salesman salesmen schoolboy schoolgirl semen she
    sir sister sisters son sons sorority sperm spokesman spokesmen spokeswoman stallion statesman
    stepdaughter stepfather stepmother stepson strongman stud studs suitor suitors testosterone uncle
    uncles uterus vagina viagra waitress widow widower widows wife witch witches wives woman womb women
    """.split()
)
METHODS = ("pca", "average")
VARIANTS = ("lesson", "bolukbasi")


def _present_pairs(vectors: WordVectors, pairs: Iterable[Sequence[str]]) -> list[tuple[str, str]]:
    pairs = [tuple(pair) for pair in pairs]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"pairs hold two words each. Received: {pairs}")
    present = [(a, b) for a, b in pairs if a in vectors and b in vectors]
    if not present:
        raise ValueError(f"none of the pairs has both words in the vocabulary. Received: pairs={pairs}")
    return present


def definitional_pca(
    vectors: WordVectors, definitional_pairs: Iterable[Sequence[str]] = DEFINITIONAL_PAIRS
) -> tuple[np.ndarray, np.ndarray]:
    """The principal components of the definitional pairs' centred differences (absent pairs skipped).

    Returns:
        (components [k, D], unit rows, the first signed to point from the
        second words to the first; explained_variance_ratio [k]). Bolukbasi
        et al. show that the first component explains far more than the
        others: one direction carries the bias.
    """
    pairs = _present_pairs(vectors, definitional_pairs)
    first = np.stack([vectors.vector(a) for a, _ in pairs]).astype(np.float64)
    second = np.stack([vectors.vector(b) for _, b in pairs]).astype(np.float64)
    centre = (first + second) / 2
    rows = np.concatenate([first - centre, second - centre])  # each pair's rows sum to 0: already centred
    _, singular_values, components = np.linalg.svd(rows, full_matrices=False)
    if np.dot(components[0], np.sum(first - second, axis=0)) < 0:
        components[0] = -components[0]
    variance = singular_values**2
    return components, variance / variance.sum()


def bias_direction(
    vectors: WordVectors,
    definitional_pairs: Iterable[Sequence[str]] = DEFINITIONAL_PAIRS,
    method: str = "pca",
) -> np.ndarray:
    """The bias direction g [D] from definitional pairs (first word minus second, e.g. ("woman", "man")).

    Args:
        vectors: the embedding; Bolukbasi et al. unit-normalise it first
            (`vectors.normalized()`), the course uses the vectors as they are.
        definitional_pairs: pairs that differ by the bias only; pairs with a
            word outside the vocabulary are skipped.
        method: "pca", the first principal component (a unit vector), or
            "average", the mean of e_a - e_b (the course's e_woman - e_man,
            not normalised).
    """
    if method == "pca":
        return definitional_pca(vectors, definitional_pairs)[0][0]
    if method == "average":
        pairs = _present_pairs(vectors, definitional_pairs)
        return np.mean([vectors.vector(a) - vectors.vector(b) for a, b in pairs], axis=0).astype(np.float64)
    raise ValueError(f"method must be one of {METHODS}. Received: method={method!r}")


def _along(e: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The projections (e . g / ||g||^2) g of each row of e."""
    return (e @ g / (g @ g))[..., None] * g


def _check_direction(g) -> np.ndarray:
    g = np.asarray(g, dtype=np.float64)
    if g.ndim != 1 or not np.all(np.isfinite(g)) or not np.any(g):
        raise ValueError(f"g must be a finite, non-zero vector [D]. Received: shape={g.shape}")
    return g


def neutralize(e, g) -> np.ndarray:
    """e - (e . g / ||g||^2) g: the word vector(s) e [..., D] with no component along g."""
    g = _check_direction(g)
    e = np.asarray(e, dtype=np.float64)
    return e - _along(e, g)


def equalize(pair, g, variant: str = "lesson") -> tuple[np.ndarray, np.ndarray]:
    """Moves a pair (e_w1, e_w2) to be symmetric about the subspace orthogonal to g (module docstring).

    Args:
        pair: (e_w1, e_w2), each [D] or [P, D] (P pairs at once).
        g: the bias direction [D].
        variant: "lesson", the course's formulas (the corrected components
            are divided by ||(e_w - mu_orth) - mu_B||), or "bolukbasi" (by
            ||e_wB - mu_B||: unit vectors in, unit vectors out). Both scale
            by sqrt(|1 - ||mu_orth||^2|); for unit vectors ||mu_orth|| <= 1,
            and that is the paper's sqrt(1 - ||mu_orth||^2).

    Returns:
        (e1, e2) = (mu_orth + corrected_e_w1B, mu_orth + corrected_e_w2B).
        A degenerate pair (the two words equal along g, or equal outright)
        gets Bolukbasi et al.'s convention: e1 on the positive side of g.
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}. Received: variant={variant!r}")
    g = _check_direction(g)
    e_w1, e_w2 = (np.asarray(e, dtype=np.float64) for e in pair)
    mu = (e_w1 + e_w2) / 2
    mu_B = _along(mu, g)
    mu_orth = mu - mu_B
    e_w1B, e_w2B = _along(e_w1, g), _along(e_w2, g)
    scale = np.sqrt(np.abs(1 - np.sum(mu_orth**2, axis=-1, keepdims=True)))
    unit_g = g / np.linalg.norm(g)
    corrected = []
    for e_w, e_wB, side in ((e_w1, e_w1B, 1.0), (e_w2, e_w2B, -1.0)):
        offset = e_wB - mu_B
        if variant == "lesson":
            denominator = np.linalg.norm((e_w - mu_orth) - mu_B, axis=-1, keepdims=True)
        else:
            denominator = np.linalg.norm(offset, axis=-1, keepdims=True)
        degenerate = denominator == 0
        direction = np.where(degenerate, side * unit_g, offset / np.where(degenerate, 1, denominator))
        corrected.append(scale * direction)
    return mu_orth + corrected[0], mu_orth + corrected[1]


def _case_forms(pairs: Iterable[Sequence[str]]) -> list[tuple[str, str]]:
    """Each pair in lower, title and upper case, without repeats (debiaswe's candidates)."""
    forms: dict[tuple[str, str], None] = {}
    for a, b in pairs:
        for case in (str.lower, str.title, str.upper):
            forms.setdefault((case(a), case(b)), None)
    return list(forms)


def hard_debias(
    vectors: WordVectors,
    definitional_pairs: Iterable[Sequence[str]] = DEFINITIONAL_PAIRS,
    equalize_pairs: Iterable[Sequence[str]] = EQUALIZE_PAIRS,
    gender_specific: Iterable[str] = GENDER_SPECIFIC,
    neutral_words: Iterable[str] | None = None,
    variant: str = "bolukbasi",
) -> WordVectors:
    """Bolukbasi et al.'s hard debiasing: a new `WordVectors`, unit vectors, neutral words orthogonal to g.

    1. unit-normalise every vector; g = `bias_direction(..., method="pca")`;
    2. neutralize the neutral words: `neutral_words` if given, else every
       word neither in `gender_specific` nor in an equalize pair
       (case-sensitive, as debiaswe); normalise;
    3. equalize each pair of `equalize_pairs` whose two words are in the
       vocabulary, in lower, title and upper case; normalise again.

    debiaswe neutralizes the words of an equalize pair too when its
    gender-specific list misses them (its full list of 1,441 words holds
    almost all); equalizing such a pair then has no side of g left to keep
    and puts its words on either side at random. Here they are never
    neutralized, so each keeps its side.

    Args:
        vectors: the embedding to debias (left unchanged).
        definitional_pairs: the pairs g is found from.
        equalize_pairs: the pairs to make equidistant from neutral words.
        gender_specific: the words that keep their bias (ignored when
            `neutral_words` is given).
        neutral_words: the words to neutralize, instead of "all but
            `gender_specific`".
        variant: the `equalize` variant; "bolukbasi" (default) is the
            paper's, "lesson" the course's formulas.
    """
    unit = vectors.normalized()
    g = bias_direction(unit, definitional_pairs, "pca")
    matrix = unit.matrix.astype(np.float64)
    pairs = [(a, b) for a, b in _case_forms(equalize_pairs) if a in unit and b in unit]
    if neutral_words is None:
        kept = set(gender_specific) | {word for pair in pairs for word in pair}
        rows = [i for i, word in enumerate(unit.words) if word not in kept]
    else:
        rows = sorted({unit.index[word] for word in neutral_words if word in unit})
    matrix[rows] = neutralize(matrix[rows], g)
    matrix = _unit_or_zero(matrix)
    if pairs:
        first = np.array([unit.index[a] for a, _ in pairs])
        second = np.array([unit.index[b] for _, b in pairs])
        matrix[first], matrix[second] = equalize((matrix[first], matrix[second]), g, variant)
    return WordVectors(unit.words, _unit_or_zero(matrix).astype(vectors.matrix.dtype))


def _unit_or_zero(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1)


@dataclass(frozen=True)
class ClusteringBias:
    """What k-means recovers of the original bias from debiased vectors (Gonen and Goldberg 2019).

    Attributes:
        accuracy: share of the words whose cluster matches their original
            side of g (the better of the two ways to name the clusters):
            0.5 means no bias is left to find, 1.0 all of it.
        words_per_side: words taken from each end of the original projection.
        positive_words, negative_words: the most biased words of each side
            (the first ten), where g points and away from it.
    """

    accuracy: float
    words_per_side: int
    positive_words: tuple[str, ...]
    negative_words: tuple[str, ...]

    def as_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "words_per_side": self.words_per_side,
            "positive_words": list(self.positive_words),
            "negative_words": list(self.negative_words),
        }


def clustering_bias(
    original: WordVectors,
    debiased: WordVectors,
    g,
    words_per_side: int = 500,
    exclude: Iterable[str] = (),
    restrict_vocab: int | None = None,
    seed: int = 0,
) -> ClusteringBias:
    """Gonen and Goldberg's measure: cluster the debiased vectors of the originally most biased words.

    The words are ranked by the projection of their unit ORIGINAL vector on
    g; the `words_per_side` highest and lowest are labelled by their side,
    and their unit DEBIASED vectors go to k-means (k = 2, scikit-learn,
    10 initialisations, `seed`).

    Args:
        original: the embedding before debiasing.
        debiased: after; only words in both are ranked.
        g: the bias direction in the original space.
        words_per_side: Gonen and Goldberg take 500.
        exclude: words never ranked, e.g. the gender-specific list (their
            bias is by definition).
        restrict_vocab: rank only the first N words of `original` (the
            most frequent, if it is sorted by count).
        seed: k-means' random state.
    """
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    g = _check_direction(g)
    excluded = set(exclude)
    words = [w for w in original.words[:restrict_vocab] if w in debiased and w not in excluded]
    if isinstance(words_per_side, bool) or not isinstance(words_per_side, int) or words_per_side < 1:
        raise ValueError(f"words_per_side must be a positive integer. Received: {words_per_side!r}")
    if 2 * words_per_side > len(words):
        raise ValueError(
            f"2 * words_per_side words are needed and {len(words):,} can be ranked. "
            f"Received: words_per_side={words_per_side}"
        )
    rows = np.array([original.index[w] for w in words])
    projection = original.unit_matrix[rows] @ (g / np.linalg.norm(g))
    order = np.argsort(-projection, kind="stable")
    positive, negative = order[:words_per_side], order[::-1][:words_per_side]
    chosen = np.concatenate([positive, negative])
    labels = np.concatenate([np.ones(words_per_side, int), np.zeros(words_per_side, int)])
    points = debiased.unit_matrix[[debiased.index[words[i]] for i in chosen]]
    # One thread: a thousand points take milliseconds; OpenMP threads waiting for busy cores take seconds.
    with threadpool_limits(1):
        clusters = KMeans(n_clusters=2, n_init=10, random_state=seed).fit_predict(points)
    agreement = float(np.mean(clusters == labels))
    return ClusteringBias(
        accuracy=max(agreement, 1 - agreement),
        words_per_side=words_per_side,
        positive_words=tuple(words[i] for i in positive[:10]),
        negative_words=tuple(words[i] for i in negative[:10]),
    )
