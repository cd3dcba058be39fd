"""Experiments as data: validation that lists every problem, sticky hash assignment,
Thompson shares with a floor."""

from __future__ import annotations

from collections import Counter

import pytest

from engine.errors import ConfigError
from engine.experiments.assignment import assign, thompson_shares, unit_hash
from engine.experiments.config import parse_experiments


def config(*variants, **experiment):
    return {"experiments": [{"name": "e", "variants": list(variants), **experiment}]}


A = {"name": "A", "weight": 1, "strategy": "popular"}
B = {"name": "B", "weight": 3}


def test_a_valid_experiment():
    c = parse_experiments(config(A, B, control="A"), bundle_exists=lambda v: v == "v1")
    e = c.running
    assert e.names == ("A", "B") and e.shares == (0.25, 0.75) and e.control == "A"
    assert e.variant("A").kind == "popular" and e.variant("B").kind == "engine"
    assert c.labels == {("e", "A"), ("e", "B")}


def test_every_problem_is_listed_with_its_fix():
    bad = config(
        {"name": "A", "weight": 0, "strategy": "random"},
        {"name": "A", "weight": "heavy", "bundle": "v9", "ranking": {"speed": 3}},
        {"name": "C D", "weight": 1},
        control="Z",
        floor=0.9,
        colour="red",
    )
    with pytest.raises(ConfigError) as info:
        parse_experiments(bad, bundle_exists=lambda v: False)
    text = str(info.value)
    for expected in ("unknown key 'colour'", "weight must be a positive number",
                     "strategy must be one of", "name must be 1-64 characters"):  # fmt: skip
        assert expected in text, text
    with pytest.raises(ConfigError) as info:
        parse_experiments(config(A, {"name": "A", "weight": 1, "bundle": "v9",
                                     "ranking": {"speed": 3}}, control="Z", floor=0.9),
                          bundle_exists=lambda v: False)  # fmt: skip
    text = str(info.value)
    for expected in ("bundle version 'v9' is not in the artifacts",
                     "unknown ranking parameter 'speed'", "variant name 'A' is used twice",
                     "control 'Z' is not one of", "floor must be a share"):  # fmt: skip
        assert expected in text, text
    two_running = {"experiments": [config(A, B)["experiments"][0],
                                   {**config(A, B)["experiments"][0], "name": "f"}]}  # fmt: skip
    with pytest.raises(ConfigError, match="only one may run at a time"):
        parse_experiments(two_running)


def test_assignment_is_sticky_follows_the_shares_and_depends_on_the_salt():
    e = parse_experiments(config(A, B)).running
    got = Counter(assign(e, f"session-{n}")[0].name for n in range(20_000))
    assert 0.73 < got["B"] / 20_000 < 0.77
    assert all(assign(e, "s-1") == assign(e, "s-1") for _ in range(3))
    other = parse_experiments(config(A, B, salt="new")).running
    moved = sum(assign(e, f"s{n}")[0].name != assign(other, f"s{n}")[0].name for n in range(2000))
    assert moved > 300  # a new salt re-shuffles the sessions
    variant, probability = assign(e, "s-1", shares=(0.5, 0.5))
    assert probability == 0.5
    assert 0 <= unit_hash("salt", "x") < 1


def test_thompson_shares_favour_the_better_variant_but_keep_the_floor():
    shares = thompson_shares([5000, 5000], [500, 600], floor=0.1)
    assert shares[1] > 0.85 and shares[0] >= 0.1 and abs(sum(shares) - 1) < 1e-9
    even = thompson_shares([10, 10], [1, 1], floor=0.1)
    assert 0.3 < even[0] < 0.7
    assert thompson_shares([10, 10], [1, 1], floor=0.1) == even  # the same on every pod
    with pytest.raises(ConfigError):
        thompson_shares([10, 10], [11, 1], floor=0.1)
