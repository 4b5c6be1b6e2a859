import hashlib

import numpy as np
import pytest

from pipelines.sources import ImageSource
from pipelines.splits import (
    SMALL_DATA,
    big_data_split,
    group_keys,
    hash_assign,
    mismatched_split,
    small_data_split,
    split_by_hash,
)


def make_source(n: int, name: str = "src", seed: int = 0) -> ImageSource:
    rng = np.random.default_rng(seed)
    return ImageSource(
        name=name,
        images=rng.integers(0, 256, (n, 4, 4, 1), dtype=np.uint8),
        labels=rng.integers(0, 3, n).astype(np.int64),
        ids=np.array([f"{name}/{i}" for i in range(n)]),
        class_names=("a", "b", "c"),
    )


def fingerprints(source: ImageSource) -> set[str]:
    """A hash of every example's content and identity, as TFDS' split tests do."""
    return {
        hashlib.sha256(i.encode() + image.tobytes() + bytes([int(label)])).hexdigest()
        for i, image, label in zip(source.ids, source.images, source.labels, strict=True)
    }


class TestHashAssign:
    def test_same_assignment_across_runs_and_input_orders(self):
        ids = np.array([f"x{i}" for i in range(5000)])
        first = dict(zip(ids, hash_assign(ids, {"train": 0.6, "dev": 0.2, "test": 0.2}, "s"), strict=True))
        order = np.random.default_rng(1).permutation(len(ids))
        second = dict(
            zip(
                ids[order], hash_assign(ids[order], {"train": 0.6, "dev": 0.2, "test": 0.2}, "s"), strict=True
            )
        )
        assert first == second

    def test_salt_changes_assignment(self):
        ids = np.array([f"x{i}" for i in range(1000)])
        assert (
            np.mean(
                hash_assign(ids, {"a": 0.5, "b": 0.5}, "1") != hash_assign(ids, {"a": 0.5, "b": 0.5}, "2")
            )
            > 0.3
        )

    @pytest.mark.parametrize("fractions", [{"a": 0.5, "b": 0.6}, {"a": -0.1, "b": 1.1}])
    def test_bad_fractions(self, fractions):
        with pytest.raises(ValueError, match="sum to 1"):
            hash_assign(np.array(["x"]), fractions, "s")


class TestPolicies:
    @pytest.mark.parametrize(
        "policy, expected", [(small_data_split, (0.6, 0.2, 0.2)), (big_data_split, (0.98, 0.01, 0.01))]
    )
    def test_sizes_disjoint_and_complete(self, policy, expected):
        source = make_source(20_000)
        parts = policy(source)
        sizes = np.array([len(parts[k]) for k in ("train", "dev", "test")])
        assert sizes.sum() == len(source)
        np.testing.assert_allclose(sizes / len(source), expected, atol=0.015)
        prints = [fingerprints(parts[k]) for k in ("train", "dev", "test")]
        assert not (prints[0] & prints[1] or prints[0] & prints[2] or prints[1] & prints[2])
        assert set().union(*prints) == fingerprints(source)

    def test_split_by_hash_is_order_independent(self):
        source = make_source(3000)
        shuffled = source.take(np.random.default_rng(5).permutation(len(source)))
        a, b = small_data_split(source), small_data_split(shuffled)
        for name in ("train", "dev", "test"):
            assert set(a[name].ids) == set(b[name].ids)


class TestMismatchedSplit:
    def setup_method(self):
        self.a, self.b = make_source(8000, "web"), make_source(2000, "app", seed=1)

    def test_lesson_layout(self):
        split = mismatched_split(self.a, self.b, b_train_share=0.5, train_dev_fraction=0.1)
        composition = split.composition()
        # dev and test: source B only, about a quarter of B each
        assert composition["dev"]["A"] == composition["test"]["A"] == 0
        for name in ("dev", "test"):
            assert abs(composition[name]["B"] - 500) < 60
        # train + train-dev: all of A and about half of B
        assert composition["train"]["A"] + composition["train_dev"]["A"] == 8000
        assert abs(composition["train"]["B"] + composition["train_dev"]["B"] - 1000) < 70
        assert abs(len(split.train_dev) / (len(split.train) + len(split.train_dev)) - 0.1) < 0.015
        # train-dev has the training distribution: the same share of B as train
        share_train = composition["train"]["B"] / len(split.train)
        share_train_dev = composition["train_dev"]["B"] / len(split.train_dev)
        assert abs(share_train - share_train_dev) < 0.04
        assert sum(split.sizes().values()) == 10_000
        assert "train_dev" in split.report()

    def test_no_example_in_two_splits_and_stable_across_orders(self):
        split = mismatched_split(self.a, self.b)
        parts = [fingerprints(p) for p in split.as_dict().values()]
        assert sum(len(p) for p in parts) == len(set().union(*parts)) == 10_000
        order_a = np.random.default_rng(2).permutation(8000)
        order_b = np.random.default_rng(3).permutation(2000)
        again = mismatched_split(self.a.take(order_a), self.b.take(order_b))
        for name, part in split.as_dict().items():
            assert set(part.ids) == set(again.as_dict()[name].ids)

    @pytest.mark.parametrize(
        "kwargs, match",
        [
            ({"b_train_share": 1.0}, "Received: b_train_share=1.0"),
            ({"train_dev_fraction": 0.0}, "Received: train_dev_fraction=0.0"),
        ],
    )
    def test_bad_arguments(self, kwargs, match):
        with pytest.raises(ValueError, match=match):
            mismatched_split(self.a, self.b, **kwargs)

    def test_split_by_hash_names_each_part(self):
        parts = split_by_hash(self.a, {"x": 0.5, "y": 0.5})
        assert parts["x"].name == "web/x"


class TestGroups:
    """Copies of one image (given as groups of ids) land in one split; everything else as without groups."""

    def test_group_keys_are_each_groups_smallest_id(self):
        ids = np.array(["e", "b", "d", "a", "c", "f"])
        keys = group_keys(ids, [("d", "b"), ("e", "x"), ("b", "c")])  # "b" joins two groups
        # The oracle: merge groups sharing an id by repeated set union, then take each one's minimum.
        merged = []
        for group in ({"d", "b"}, {"e", "x"}, {"b", "c"}):
            touching = [m for m in merged if m & group]
            merged = [m for m in merged if not m & group] + [group.union(*touching)]
        expected = [min(next((m for m in merged if i in m), {i})) for i in ids]
        assert list(keys) == expected == ["e", "b", "b", "a", "b", "f"]
        assert group_keys(ids) is ids  # no groups: the ids themselves

    def test_copies_share_a_split_and_the_rest_is_unchanged(self):
        source = make_source(3000)
        groups = [tuple(f"src/{i}" for i in range(start, start + 3)) for start in range(0, 300, 3)]
        plain, grouped = small_data_split(source), split_by_hash(source, SMALL_DATA, "split", groups)
        where = {i: name for name, part in grouped.items() for i in part.ids}
        assert all(len({where[i] for i in group}) == 1 for group in groups)
        assert {where[group[0]] for group in groups} == {"train", "dev", "test"}
        for name in plain:  # examples in no group: exactly today's assignment
            assert {i for i in plain[name].ids if int(i.split("/")[1]) >= 300} == {
                i for i in grouped[name].ids if int(i.split("/")[1]) >= 300
            }

    def test_mismatched_split_never_evaluates_a_picture_that_trains(self):
        a, b = make_source(4000, "web"), make_source(2000, "app", seed=1)
        b_only = [(f"B:app/{i}", f"B:app/{i + 1}") for i in range(0, 200, 2)]
        across = [(f"A:web/{i}", f"B:app/{1000 + i}") for i in range(100)]
        split = mismatched_split(a, b, train_dev_fraction=0.2, groups=b_only + across)
        where = {i: name for name, part in split.as_dict().items() for i in part.ids}
        assert all(len({where[i] for i in group}) == 1 for group in b_only + across)
        assert {where[g[0]] for g in b_only} == {"train", "train_dev", "dev", "test"}
        assert {where[g[0]] for g in across} == {"train", "train_dev"}  # B's copy trains with A's
        plain = mismatched_split(a, b, train_dev_fraction=0.2)
        grouped_ids = {i for group in b_only + across for i in group}
        for name, part in plain.as_dict().items():
            assert set(part.ids) - grouped_ids == set(split.as_dict()[name].ids) - grouped_ids
