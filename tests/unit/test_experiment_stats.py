"""The report's statistics on simulated experiments with a known truth."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import DataError
from engine.experiments.stats import compare


def sessions(rng, variants, n, ctr, *, probability=None, heterogeneity=3.0):
    """Per-session rows: each session sees a few answers, its own click propensity drawn
    around ``ctr[variant]`` (sessions differ: clicks of one session are correlated)."""
    variant = rng.choice(variants, size=n, p=probability)
    impressions = rng.integers(1, 12, size=n)
    base = np.array([ctr[v] for v in variant])
    propensity = rng.beta(base * heterogeneity, (1 - base) * heterogeneity)
    clicks = rng.binomial(impressions, propensity)
    purchases = rng.binomial(1, np.minimum(clicks * 0.1, 1))
    return {
        "variant": list(variant),
        "probability": [0.5] * n
        if probability is None
        else [probability[list(variants).index(v)] for v in variant],
        "impressions": impressions,
        "clicks": clicks,
        "carts": purchases,
        "purchases": purchases,
        "revenue": purchases * 20.0,
        "purchases_all": purchases,
        "revenue_all": purchases * 20.0,
    }


def test_a_real_difference_is_found_with_its_direction():
    rng = np.random.default_rng(1)
    t = sessions(rng, ["A", "B"], 20_000, {"A": 0.05, "B": 0.06})
    r = compare(t, experiment="x", variants=["A", "B"], control="A", shares=[1, 1],
                min_sessions=1000)  # fmt: skip
    b = r.variants[1].metrics["ctr"]
    assert b.p_value < 0.01 and b.diff > 0 and 0.05 < b.lift < 0.5  # the truth: +20%
    assert 0 < b.diff_low < b.diff < b.diff_high
    assert r.verdict.startswith("B beats A on ctr") and r.enough_data and r.srm_ok


def test_aa_experiments_name_a_winner_about_as_often_as_alpha():
    """With the session as the unit the false-positive rate is alpha; counting impressions as
    independent (what the delta method avoids) would call clustered noise a winner often."""
    rng = np.random.default_rng(2)
    runs, winners = 200, 0
    for _ in range(runs):
        t = sessions(rng, ["A", "B"], 2000, {"A": 0.05, "B": 0.05}, heterogeneity=1.0)
        r = compare(t, experiment="aa", variants=["A", "B"], control="A", shares=[1, 1],
                    min_sessions=100)  # fmt: skip
        winners += r.variants[1].metrics["ctr"].p_value < 0.05
    assert winners / runs <= 0.09, winners


def test_intervals_cover_the_truth_95_percent_of_the_time():
    rng = np.random.default_rng(3)
    truth = 0.05 * 6  # expected clicks per session / expected impressions (6) -> ctr 0.05
    covered = 0
    for _ in range(200):
        t = sessions(rng, ["A", "B"], 1000, {"A": 0.05, "B": 0.05}, heterogeneity=1.0)
        e = compare(t, experiment="c", variants=["A", "B"], control="A").variants[0]
        covered += e.metrics["ctr"].low <= truth / 6 <= e.metrics["ctr"].high
    assert 0.90 <= covered / 200 <= 0.99, covered


def test_sample_ratio_mismatch_is_caught_and_blocks_the_verdict():
    rng = np.random.default_rng(4)
    t = sessions(rng, ["A", "B"], 20_000, {"A": 0.05, "B": 0.07}, probability=[0.53, 0.47])
    r = compare(t, experiment="srm", variants=["A", "B"], control="A", shares=[1, 1],
                min_sessions=100)  # fmt: skip
    assert r.srm_p_value < 0.001 and r.srm_ok is False
    assert r.verdict.startswith("sample ratio mismatch")
    fair = sessions(rng, ["A", "B"], 20_000, {"A": 0.05, "B": 0.05})
    ok = compare(fair, experiment="srm", variants=["A", "B"], control="A", shares=[1, 1])
    assert ok.srm_p_value > 0.001


def test_not_enough_data_names_no_winner():
    rng = np.random.default_rng(5)
    t = sessions(rng, ["A", "B"], 300, {"A": 0.02, "B": 0.3})
    r = compare(t, experiment="small", variants=["A", "B"], control="A", shares=[1, 1],
                min_sessions=1000)  # fmt: skip
    assert not r.enough_data and r.verdict.startswith("not enough data")
    assert r.variants[1].metrics["ctr"].p_value < 0.001  # the numbers are still shown


def test_inverse_probability_weights_undo_an_allocation_that_moved():
    """Thompson moved traffic to B during a period when everyone clicked more (a trend).
    Unweighted, B looks better than it is; weighted by 1/probability both estimate the same
    click-through, as they should (the variants are identical)."""
    rng = np.random.default_rng(6)
    early = sessions(rng, ["A", "B"], 20_000, {"A": 0.03, "B": 0.03}, probability=[0.5, 0.5])
    late = sessions(rng, ["A", "B"], 20_000, {"A": 0.08, "B": 0.08}, probability=[0.1, 0.9])
    t = {k: list(early[k]) + list(late[k]) for k in early}
    weighted = compare(t, experiment="ts", variants=["A", "B"], control="A", shares=None)
    naive = compare(t | {"probability": [1.0] * len(t["variant"])}, experiment="ts",
                    variants=["A", "B"], control="A", shares=None)  # fmt: skip
    assert naive.variants[1].metrics["ctr"].lift > 0.3
    assert abs(weighted.variants[1].metrics["ctr"].lift) < 0.08
    assert weighted.srm_p_value is None  # no fixed shares to check against


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"variant": ["A", "Z"]}, "does not declare"),
        ({"probability": [0.5, 0.0]}, "probability"),
        ({"clicks": [1, -1]}, "non-negative"),
    ],
)
def test_bad_tables_are_refused(change, message):
    t = {"variant": ["A", "B"], "probability": [0.5, 0.5], "impressions": [1, 1],
         "clicks": [0, 1], "carts": [0, 0], "purchases": [0, 0], "revenue": [0, 0],
         "purchases_all": [0, 0], "revenue_all": [0, 0]}  # fmt: skip
    with pytest.raises(DataError, match=message):
        compare(t | change, experiment="bad", variants=["A", "B"], control="A")
