"""Guards on moving ``latest``: a useless or broken model must not replace the served one.

A bundle is checked before ``latest`` moves to it, by ``train`` and by ``publish``:

1. **Enough data**: at least ``min_sessions`` training sessions and ``min_items`` products with
   views. A two-line CSV trains "2 items x 100 dims" without an error; nobody wants it served.
2. **The catalogue did not shrink sharply**: the new model knows at least
   ``1 - max_catalogue_shrink`` of the products of the model it replaces. A shop's catalogue
   turns over slowly; half of it gone overnight is a partial export (a missing day, a filter).
3. **Quality did not fall**: the held-out HR@k of the product-page protocol (pipelines/
   evaluate.py, ``next_different``) is not more than ``max_quality_drop`` (relative) below
   the replaced model's, *and* the fall is significant (one-sided Fisher exact test on the
   hits, p < ``SIGNIFICANCE``), so that a small shop's noise does not block it. Like is
   compared with like: both numbers come from the same procedure (pipelines/holdout.py: a model
   trained without the newest sessions, scored on them) with the same k, held-out share and
   protocol version; otherwise the check is skipped with a note saying why.

The thresholds are options; ``--force`` publishes anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scipy.stats import fisher_exact

from engine.errors import ConfigError
from pipelines.evaluate import NEXT_DIFFERENT

#: The fall in quality must also be this unlikely under "no change" to refuse a model.
SIGNIFICANCE = 0.001
#: Bumped whenever the held-out evaluation changes in a way that moves its numbers.
HOLDOUT_PROTOCOL_VERSION = 1


@dataclass(frozen=True)
class PublishGuards:
    """Thresholds of the guards (see the module docstring for the reasoning behind each).

    Args:
        min_sessions: fewest training sessions.
        min_items: fewest products with views.
        max_catalogue_shrink: largest share of the replaced model's products that may be gone.
        max_quality_drop: largest relative fall of the held-out HR@k.
    """

    min_sessions: int = 100
    min_items: int = 20
    max_catalogue_shrink: float = 0.5
    max_quality_drop: float = 0.2

    def __post_init__(self) -> None:
        if self.min_sessions < 1 or self.min_items < 1:
            raise ConfigError("--min-sessions and --min-items must be >= 1")
        for name in ("max_catalogue_shrink", "max_quality_drop"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be in [0, 1], got {value}")

    def check(self, candidate: dict[str, Any], current: dict[str, Any] | None) -> Verdict:
        """What stands against publishing the bundle of manifest ``candidate`` in place of
        ``current`` (the manifest ``latest`` points at, or None)."""
        verdict = Verdict()
        counts = candidate.get("counts", {})
        sessions, items = int(counts.get("sessions", 0)), int(counts.get("items", 0))
        if sessions < self.min_sessions:
            verdict.refuse(
                f"too few training sessions: {sessions:,} (--min-sessions {self.min_sessions:,})"
            )
        if items < self.min_items:
            verdict.refuse(
                f"too few products with views: {items:,} (--min-items {self.min_items:,})"
            )
        if current is None:
            verdict.note("no model is published yet: nothing to compare with")
            return verdict
        old_items = int(current.get("counts", {}).get("items", 0))
        if old_items and items < (1 - self.max_catalogue_shrink) * old_items:
            verdict.refuse(
                f"the catalogue shrinks from {old_items:,} to {items:,} products "
                f"({1 - items / old_items:.0%} fewer; --max-catalogue-shrink "
                f"{self.max_catalogue_shrink:g})"
            )
        self._compare_quality(candidate, current, verdict)
        return verdict

    def _compare_quality(self, candidate: dict, current: dict, verdict: Verdict) -> None:
        new, old = holdout_of(candidate), holdout_of(current)
        if new is None or old is None:
            which = (
                "this model" if new is None else f"the published model ({current_name(current)})"
            )
            verdict.note(f"quality not compared: {which} has no held-out evaluation")
            return
        if comparable_protocol(new) != comparable_protocol(old):
            verdict.note(
                "quality not compared: the held-out evaluations differ in protocol "
                f"({comparable_protocol(old)} vs {comparable_protocol(new)})"
            )
            return
        k = new["k"]
        (new_hr, new_n), (old_hr, old_n) = (_page_hit_rate(h, k) for h in (new, old))
        if not new_n or not old_n:
            verdict.note("quality not compared: no held-out product-page pairs")
            return
        line = (
            f"held-out HR@{k} (next different product) {old_hr:.4f} -> {new_hr:.4f} on "
            f"{old_n:,} / {new_n:,} pairs"
        )
        if old_hr <= 0 or new_hr >= old_hr * (1 - self.max_quality_drop):
            verdict.note(line)
            return
        new_hits, old_hits = round(new_hr * new_n), round(old_hr * old_n)
        table = [[new_hits, new_n - new_hits], [old_hits, old_n - old_hits]]
        p = float(fisher_exact(table, alternative="less").pvalue)
        if p >= SIGNIFICANCE:
            verdict.note(f"{line}: a fall, but within the noise of so few pairs (p = {p:.2g})")
            return
        verdict.refuse(
            f"{line}: {1 - new_hr / old_hr:.0%} lower (--max-quality-drop "
            f"{self.max_quality_drop:g}; p = {p:.1g})"
        )


@dataclass
class Verdict:
    """Why a bundle may not be published (``refusals``), and what was checked (``notes``)."""

    refusals: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def refuse(self, reason: str) -> None:
        self.refusals.append(reason)

    def note(self, line: str) -> None:
        self.notes.append(line)

    @property
    def ok(self) -> bool:
        return not self.refusals


def holdout_of(manifest: dict) -> dict | None:
    """The held-out evaluation stored in a bundle manifest, or None."""
    holdout = (manifest.get("metrics") or {}).get("holdout")
    return holdout if isinstance(holdout, dict) and holdout.get("results") else None


def comparable_protocol(holdout: dict) -> dict:
    """What must be equal for two held-out numbers to be compared."""
    return {key: holdout.get(key) for key in ("protocol_version", "k", "share")}


def current_name(manifest: dict) -> str:
    return str(manifest.get("version", "?"))


def _page_hit_rate(holdout: dict, k: int) -> tuple[float, int]:
    result = holdout["results"].get(NEXT_DIFFERENT, {}).get("nowrec") or {}
    return float(result.get(f"hr@{k}", 0.0)), int(result.get("pairs", 0))


def refusal(verdict: Verdict, bundle_dir, latest: str | None) -> str:
    """The one-line error of a refused publish: why, where the bundle is, what to do."""
    where = f"latest still points at {latest}" if latest else "there is no latest"
    return (
        f"not published: {'; '.join(verdict.refusals)}. The bundle is in {bundle_dir} for "
        f"inspection; {where}. If it is right, publish it with `python -m pipelines publish "
        f"--out {bundle_dir.parent} --version {bundle_dir.name} --force` (or train with "
        "--force); the thresholds are options (python -m pipelines train --help)"
    )
