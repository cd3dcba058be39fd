"""The statistics of an experiment report, with the session as the unit of analysis.

Input: one row per session of the experiment (its variant, the probability it had of it, and
its counts: answers seen, attributed clicks, carts, purchases, revenue). Every metric is a
ratio of per-session sums, e.g. click-through = sum(clicks) / sum(impressions): the answers of
one session are not independent (one visitor, one mood), so the variance is taken over
sessions with the delta method (Deng, Knoblich and Lu, "Applying the Delta Method in Metric
Analytics", KDD 2018): the ratio's standard error is that of the mean of its linearised
per-session values. Sessions are weighed by the inverse of the probability of their variant
(Hajek's estimator), which leaves fixed-weight experiments as they are and keeps estimates
unbiased when Thompson allocation moved the shares over time.

Intervals and p-values (Welch's t-test from those statistics) and the sample-ratio check
(chi-square) come from scipy.stats. The verdict names a winner only on the primary metric,
only with ``min_sessions`` sessions in every variant and no sample-ratio mismatch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine.errors import DataError

#: metric -> (numerator column, denominator column or None for "per session"), in report order.
METRICS: dict[str, tuple[str, str | None]] = {
    "ctr": ("clicks", "impressions"),
    "click_sessions": ("clicked", None),
    "cart_rate": ("carted", None),
    "purchase_rate": ("purchased", None),
    "revenue_per_session": ("revenue", None),
    "purchase_rate_all": ("purchased_all", None),
    "revenue_per_session_all": ("revenue_all", None),
}
DESCRIPTIONS = {
    "ctr": "attributed clicks per impression",
    "click_sessions": "share of sessions with an attributed click",
    "cart_rate": "share of sessions with a cart attributed to a recommendation",
    "purchase_rate": "share of sessions with a purchase attributed to a recommendation",
    "revenue_per_session": "attributed revenue per session",
    "purchase_rate_all": "share of sessions with any purchase (attributed or not)",
    "revenue_per_session_all": "revenue per session, all purchases",
}
#: Columns the per-session table must have.
SESSION_COLUMNS = ("variant", "probability", "impressions", "clicks", "carts", "purchases",
                   "revenue", "purchases_all", "revenue_all")  # fmt: skip
SRM_ALPHA = 0.001


@dataclass(frozen=True)
class Estimate:
    """A metric of one variant: value and 95% interval; against the control, the difference,
    the relative lift and the p-value (None for the control itself)."""

    value: float
    low: float
    high: float
    diff: float | None = None
    diff_low: float | None = None
    diff_high: float | None = None
    lift: float | None = None
    p_value: float | None = None


@dataclass(frozen=True)
class VariantReport:
    name: str
    sessions: int
    impressions: int
    clicks: int
    metrics: dict[str, Estimate]


@dataclass(frozen=True)
class Report:
    """An experiment's report (what the CLI prints and the admin route returns)."""

    experiment: str
    control: str
    primary: str
    unit: str
    variants: list[VariantReport]
    srm_p_value: float | None
    srm_ok: bool | None
    enough_data: bool
    verdict: str
    alpha: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(num: np.ndarray, den: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted ratio of sums and its delta-method standard error, sessions as the unit."""
    n = len(num)
    wd = float((w * den).sum())
    if n == 0 or wd <= 0:
        return float("nan"), float("nan")
    r = float((w * num).sum()) / wd
    # linearised per-session values: the ratio's variance is that of their sum
    lin = w * (num - r * den) / wd
    se = float(np.sqrt(n / max(n - 1, 1) * (lin**2).sum()))
    return r, se


def session_table(columns: Mapping[str, Sequence]) -> dict[str, np.ndarray]:
    """The per-session columns as arrays, with the derived 0/1 columns; validated."""
    missing = [c for c in SESSION_COLUMNS if c not in columns]
    if missing:
        raise DataError(f"the per-session table lacks the columns {missing}")
    t = {"variant": np.asarray(columns["variant"], dtype=object)}
    for c in SESSION_COLUMNS[1:]:
        t[c] = np.asarray(columns[c], dtype=np.float64)
        if len(t[c]) != len(t["variant"]) or not np.isfinite(t[c]).all() or (t[c] < 0).any():
            raise DataError(f"column {c} must hold a finite, non-negative number per session")
    if ((t["probability"] <= 0) | (t["probability"] > 1)).any():
        raise DataError("every session's probability must be in (0, 1]")
    t["clicked"] = (t["clicks"] > 0).astype(np.float64)
    t["carted"] = (t["carts"] > 0).astype(np.float64)
    t["purchased"] = (t["purchases"] > 0).astype(np.float64)
    t["purchased_all"] = (t["purchases_all"] > 0).astype(np.float64)
    t["ones"] = np.ones(len(t["variant"]))
    return t


def compare(
    columns: Mapping[str, Sequence],
    *,
    experiment: str,
    variants: Sequence[str],
    control: str,
    shares: Sequence[float] | None = None,
    min_sessions: int = 1000,
    primary: str = "ctr",
    alpha: float = 0.05,
) -> Report:
    """The report of an experiment from its per-session table.

    Args:
        columns: :data:`SESSION_COLUMNS` (one value per session).
        variants: the experiment's variants, in order (a variant with no session still shows).
        control: the variant the others are compared with.
        shares: the fixed traffic shares, for the sample-ratio check (None: adaptive
            allocation, no check).
        min_sessions: sessions every variant needs before a winner is named.
        primary: the metric a verdict is about.
        alpha: significance level of the verdict.
    """
    from scipy import stats

    if primary not in METRICS:
        raise DataError(f"unknown primary metric {primary!r}; metrics: {list(METRICS)}")
    if control not in variants:
        raise DataError(f"control {control!r} is not one of {list(variants)}")
    t = session_table(columns)
    unknown = sorted(set(t["variant"]) - set(variants))
    if unknown:
        raise DataError(f"sessions of variants {unknown} that the experiment does not declare")
    z = float(stats.norm.ppf(0.975))
    per: dict[str, dict[str, tuple[float, float, int]]] = {}
    counts = {}
    for v in variants:
        mask = t["variant"] == v
        w = 1.0 / t["probability"][mask]
        counts[v] = int(mask.sum())
        per[v] = {}
        for name, (num, den) in METRICS.items():
            value, se = _ratio(t[num][mask], t[den or "ones"][mask], w)
            per[v][name] = (value, se, counts[v])
    reports = []
    for v in variants:
        mask = t["variant"] == v
        metrics = {}
        for name in METRICS:
            value, se, n = per[v][name]
            est = {"value": value, "low": value - z * se, "high": value + z * se}
            if v != control:
                c_value, c_se, c_n = per[control][name]
                diff = value - c_value
                diff_se = float(np.hypot(se, c_se))
                p = _welch_p(stats, value, se, n, c_value, c_se, c_n)
                est |= {
                    "diff": diff,
                    "diff_low": diff - z * diff_se,
                    "diff_high": diff + z * diff_se,
                    "lift": diff / c_value if c_value else None,
                    "p_value": p,
                }
            metrics[name] = Estimate(**{k: _clean(x) for k, x in est.items()})
        reports.append(
            VariantReport(
                v,
                counts[v],
                int(t["impressions"][mask].sum()),
                int(t["clicks"][mask].sum()),
                metrics,
            )  # fmt: skip
        )
    srm_p = None
    if shares is not None and sum(counts.values()) > 0:
        observed = np.array([counts[v] for v in variants], dtype=np.float64)
        expected = observed.sum() * np.asarray(shares, dtype=np.float64) / sum(shares)
        srm_p = float(stats.chisquare(observed, expected).pvalue)
    enough = min(counts.values()) >= min_sessions
    verdict = _verdict(reports, control, primary, alpha, srm_p, enough, min_sessions, counts)
    return Report(
        experiment, control, primary, "session", reports, srm_p,
        None if srm_p is None else srm_p >= SRM_ALPHA, enough, verdict, alpha,
    )  # fmt: skip


def _welch_p(stats, m1, se1, n1, m2, se2, n2) -> float | None:
    if min(n1, n2) < 2 or not np.isfinite([m1, m2, se1, se2]).all() or se1 + se2 == 0:
        return None
    result = stats.ttest_ind_from_stats(
        m1, se1 * np.sqrt(n1), n1, m2, se2 * np.sqrt(n2), n2, equal_var=False
    )
    return float(result.pvalue)


def _clean(x):
    return None if x is None or not np.isfinite(x) else float(x)


def _verdict(reports, control, primary, alpha, srm_p, enough, min_sessions, counts) -> str:
    if srm_p is not None and srm_p < SRM_ALPHA:
        return (
            f"sample ratio mismatch (p = {srm_p:.2g}): the sessions are not split as "
            "configured, so the comparison cannot be trusted; find why (bots, caching, "
            "variants that fail) before reading it"
        )
    if not enough:
        smallest = min(counts, key=counts.get)
        return (
            f"not enough data: variant {smallest!r} has {counts[smallest]} sessions, every "
            f"variant needs {min_sessions} before a winner is named"
        )
    winners = []
    for r in reports:
        e = r.metrics[primary]
        if r.name != control and e.p_value is not None and e.p_value < alpha:
            winners.append(
                f"{r.name} {'beats' if e.diff > 0 else 'loses to'} {control} on {primary} "
                f"({e.lift:+.1%}, p = {e.p_value:.2g})" if e.lift is not None else
                f"{r.name} differs from {control} on {primary} (p = {e.p_value:.2g})"
            )  # fmt: skip
    if not winners:
        return f"no significant difference on {primary} at the {alpha:g} level"
    return "; ".join(winners)
