"""SessionRecommender: what the product page shows, from the session and the current product.

Two stages (the classic design): candidate generation (co-visitation rows of the session
items, the session neighbourhood, HNSW on the session vector, the session's own items), then a
ranking stage that blends their signals (engine/ranking.py), then business filters. Every
answer says which strategy produced it and, per item, which session item contributed most
("because you viewed X").

Strategies, most to least informed:
    ``session``      the session has known items besides the current product
    ``item``         only the current product is known: its neighbours
    ``cold_start``   only products added after training (metadata-based vectors) are known
    ``popular``      nothing is known: popular items (of the requested/current category)

Thread-safety: ``recommend`` and ``similar_items`` may run concurrently from many threads;
each thread has its own scratch buffers, and catalogue updates are atomic snapshots.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.candidate_stage import N_FEATURES, candidate_features, keep_mask, rank_and_filter
from engine.catalog import CatalogState
from engine.errors import ConfigError
from engine.model import RecommenderModel
from engine.ranking import RankerParams
from engine.session import SessionEvent, WeighedSession, as_events, weigh_session
from engine.signals import ScratchPool, strongest_sources

MAX_K = 100
NO_ROWS = np.empty(0, np.int64)
NO_FLAGS = np.empty(0, np.bool_)
NO_FEATURES = np.empty((0, N_FEATURES), np.float32)


@dataclass(frozen=True)
class Filters:
    """Business rules applied after ranking.

    Args:
        exclude_seen: drop items already in the session (the current product is always dropped).
        categories: only recommend items of these categories (None: any).
        exclude: ids never to recommend (e.g. out of stock in this shop's region).
    """

    exclude_seen: bool = True
    categories: frozenset[str] | None = None
    exclude: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class SessionCandidates:
    """The candidate stage of one request, before ranking and filters.

    ``session``: the session's distinct known rows, newest first, weighed; ``rows`` and
    ``features``: the candidates and their feature matrix (``engine.ranking.FEATURES``
    columns), empty when no item of the session is known (strategy ``popular``); ``fresh``:
    the products without views among them that get the freshness boost.
    """

    session: WeighedSession
    rows: np.ndarray
    features: np.ndarray
    fresh: np.ndarray
    strategy: str
    unknown: int
    current_row: int | None


@dataclass(frozen=True)
class Recommendation:
    """Top-k items, best first, higher score is better."""

    item_ids: list[str]
    scores: np.ndarray
    because: list[str | None]
    strategy: str
    unknown_items: int = 0

    def __len__(self) -> int:
        return len(self.item_ids)


def check_k(k: int) -> None:
    """Refuse a cut-off outside 1..MAX_K (every answer is at most MAX_K items)."""
    if not 1 <= k <= MAX_K:
        raise ConfigError(f"k must be between 1 and {MAX_K}, got {k}")


class SessionRecommender:
    """Recommends products for a session with a loaded :class:`RecommenderModel`.

    Args:
        model: the loaded model (vectors, indexes, statistics, catalogue).
        exact: search candidates by exact inner product instead of HNSW (for measuring the
            HNSW loss; slower).
        ranking: candidate sizes and ranker weights to use instead of the model's own (an
            experiment's variant may override them); None: the model's.
    """

    def __init__(
        self, model: RecommenderModel, exact: bool = False, ranking: RankerParams | None = None
    ) -> None:
        if not exact and model.next_index is None:
            raise ConfigError("this model was built without HNSW indexes: use exact=True")
        self.model = model
        self.exact = exact
        self.ranking = ranking or model.params.ranking
        self._weights = self.ranking.weight_vector
        rp = self.ranking
        self._kernel_ranking = (
            rp.repeat_decay,
            rp.related_candidates,
            rp.neighbour_candidates,
            rp.min_candidates,
        )
        self.embedding_searches = 0  #: requests that searched the HNSW index (a statistic)
        self._scratch = ScratchPool(model.catalog.max_rows, model.session_knn.n_sessions)

    # ------------------------------------------------------------------ public API
    def recommend(
        self,
        session: Sequence[SessionEvent | str],
        current_item: str | None = None,
        k: int = 20,
        filters: Filters | None = None,
    ) -> Recommendation:
        """Top ``k`` products for a session (oldest event first) viewing ``current_item``."""
        check_k(k)
        filters = filters or Filters()
        state = self.model.catalog.state
        found = self.session_candidates(session, current_item, state)
        if found.strategy == "popular":
            return self._popular(k, filters, current_item, state, found.unknown)
        ws, current_row = found.session, found.current_row
        seen = ws.rows if filters.exclude_seen else NO_ROWS
        rec_rows, rec_scores = rank_and_filter(
            found.rows, found.features, self._weights, state.available,
            -1 if current_row is None else current_row, seen,
            self._allowed_categories(filters, state), state.categories,
            self._excluded_rows(filters, state), found.fresh,
            np.float32(self.ranking.freshness_boost), k,
        )  # fmt: skip
        rec_rows, rec_scores = self._pad(rec_rows, rec_scores, k, filters, state, current_row, seen)
        because = self._because(ws, rec_rows, state)
        return Recommendation(
            state.ids_of(rec_rows), rec_scores, because, found.strategy, found.unknown
        )

    def session_candidates(
        self,
        session: Sequence[SessionEvent | str],
        current_item: str | None = None,
        state: CatalogState | None = None,
    ) -> SessionCandidates:
        """The candidate stage of :meth:`recommend` for a session (oldest event first)
        viewing ``current_item``: candidates and their features, before ranking and filters.

        Public so that the batch pipeline learns the ranker on exactly the features the
        service computes (pipelines/ranker.py). ``state``: the catalogue snapshot to read
        (default: the current one).
        """
        m = self.model
        state = state or m.catalog.state
        events = as_events(session)
        if current_item is not None and (not events or events[-1].item_id != str(current_item)):
            events.append(SessionEvent(str(current_item)))
        rows, kinds, unknown = [], [], 0
        for e in events:
            row = state.row_of(e.item_id)
            if row is None:
                unknown += 1
            else:
                rows.append(row)
                kinds.append(e.event_type)
        ws = weigh_session(rows, kinds, m.params.session)
        current_row = state.row_of(str(current_item)) if current_item is not None else None
        if len(ws) == 0:
            return SessionCandidates(
                ws, NO_ROWS, NO_FEATURES, NO_ROWS, "popular", unknown, current_row
            )
        trained = ws.rows < m.catalog.n_trained
        if trained.any():
            only_current = len(ws) == 1 and current_row is not None
            strategy = "item" if only_current else "session"
        else:
            strategy = "cold_start"
        fresh = self.fresh_candidates(ws, state)
        cand, features = self._candidates(ws, rows, trained, state, fresh)
        return SessionCandidates(ws, cand, features, fresh, strategy, unknown, current_row)

    def popular(
        self, k: int = 20, filters: Filters | None = None, current_item: str | None = None
    ) -> Recommendation:
        """The most popular products that pass the filters (the ``popular`` baseline), the
        current product left out."""
        check_k(k)
        return self._popular(k, filters or Filters(), current_item, self.model.catalog.state, 0)

    def similar_items(self, item_id: str, k: int = 20, filters: Filters | None = None):
        """Products most similar to ``item_id`` (cosine of input vectors)."""
        check_k(k)
        filters = filters or Filters(exclude_seen=False)
        m = self.model
        state = m.catalog.state
        row = m.catalog.row_of(item_id)
        q = m.input_vector(row, state)
        fetch = min(self.ranking.embedding_candidates + k, m.similar_index_ef)
        cand, sims = self._search(m.similar_index, m.similar_exact, q, fetch, state, "cosine")
        keep = self._filter_mask(cand, filters, state, row, np.empty(0, np.int64))
        cand, sims = cand[keep], sims[keep]
        top = self._top(cand, sims, k)
        ids = state.ids_of(cand[top])
        return Recommendation(ids, sims[top], [str(item_id)] * len(ids), "similar")

    # ------------------------------------------------------------------ stages
    def _candidates(
        self,
        ws: WeighedSession,
        rows: Sequence[int],
        trained: np.ndarray,
        state: CatalogState,
        fresh: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Candidate rows and their feature matrix (``engine.ranking.FEATURES`` columns).

        ``rows``: the session's known rows, oldest first; ``ws``: the same, weighed;
        ``trained``: which of ``ws.rows`` are trained items; ``fresh``: products without views
        to add (:meth:`fresh_candidates`).
        """
        m = self.model
        rp = self.ranking
        warm, recency, decayed = self._warm_rows(ws, trained, state)
        newest, share = self._newest_warm(ws, state)
        session_vec = m.session_vector(ws, state)
        found = NO_ROWS
        rel = m.covisitation.related
        thin = not rp.embedding_fills_only or (
            int((rel.indptr[warm + 1] - rel.indptr[warm]).sum()) < rp.related_candidates
        )
        if rp.embedding_candidates > 0 and thin:
            self.embedding_searches += 1
            fetch = min(rp.embedding_candidates, m.next_index_ef)
            found, _ = self._search(m.next_index, m.next_exact, session_vec, fetch, state, "ip")
        new_vout = state.new_vectors_out if state.new_vectors_out is not None else m.no_vectors
        return candidate_features(
            m.kernel, self._scratch.get().kernel, ws.rows, warm, recency, decayed, newest,
            share, np.asarray(rows, dtype=np.int64), found, fresh, state.categories, new_vout,
            session_vec.astype(np.float32), self._kernel_ranking,
        )  # fmt: skip

    def fresh_candidates(self, ws: WeighedSession, state) -> np.ndarray:
        """Products without views to explore on this page (the freshness boost): the
        available ones of the newest session item's category that are not in the session, the
        ``fresh_candidates`` closest to the session vector. Empty when the boost is off or the
        category has none (always, for a catalogue without new products). Rows come from the
        catalogue state, so they are within the scratch buffers the kernels index."""
        m = self.model
        rp = self.ranking
        if not rp.explores:
            return NO_ROWS
        pool = state.fresh_by_category.get(int(state.categories[ws.rows[0]]))
        if pool is None:
            return NO_ROWS
        pool = pool[~np.isin(pool, ws.rows)]
        if len(pool) > rp.fresh_candidates:
            closeness = state.new_vectors_out[pool - m.catalog.n_trained] @ m.session_vector(
                ws, state
            )
            pool = pool[np.argsort(-closeness, kind="stable")[: rp.fresh_candidates]]
        return pool

    def _newest_warm(self, ws: WeighedSession, state) -> tuple[np.ndarray, np.ndarray]:
        """The newest session row, or the warm products a new (cold) product stands for."""
        newest = int(ws.rows[0])
        if newest < self.model.catalog.n_trained:
            return ws.rows[:1], np.ones(1, np.float32)
        warm, share = state.cold_neighbours[newest]
        return np.asarray(warm, np.int64), np.asarray(share, np.float32)

    def _warm_rows(self, ws: WeighedSession, trained: np.ndarray, state):
        """Trained session rows with their weights; a product added since training stands in
        for the warm products its cold-start vector came from (so co-visitation and the session
        neighbourhood can answer for it). Returns rows newest first, recency and kNN weights."""
        p = self.model.params.session_knn
        decayed = ws.decayed(p.position_decay)
        if trained.all():
            return ws.rows, ws.recency, decayed
        rows, rec, dec = [ws.rows[trained]], [ws.recency[trained]], [decayed[trained]]
        for i in np.flatnonzero(~trained):
            warm, share = state.cold_neighbours[int(ws.rows[i])]
            rows.append(warm)
            rec.append(ws.recency[i] * share)
            dec.append(decayed[i] * share)
        all_rows = np.concatenate(rows)
        uniq, first, inverse = np.unique(all_rows, return_index=True, return_inverse=True)
        order = np.argsort(first)  # keep newest-first order of first appearance
        sums = [
            np.bincount(inverse, np.concatenate(x))[order].astype(np.float32) for x in (rec, dec)
        ]
        return uniq[order], sums[0], sums[1]

    def _search(self, index, exact, q, k, state, space):
        """HNSW (or exact, also for a model built without that graph) over trained items,
        plus exact over products added since."""
        m = self.model
        rows, scores = (exact if self.exact or index is None else index).query(q, k)
        if state.new_vectors_out is not None:
            new = state.new_vectors_out if space == "ip" else state.new_vectors_in
            s = new @ q
            if space == "cosine":
                s = s / np.maximum(np.linalg.norm(new, axis=1) * np.linalg.norm(q), 1e-12)
            take = np.argsort(-s)[:k]
            rows = np.concatenate([rows, take + m.catalog.n_trained])
            scores = np.concatenate([scores, s[take]])
        return rows, scores

    @staticmethod
    def _allowed_categories(filters: Filters, state) -> np.ndarray:
        if filters.categories is None:
            return NO_FLAGS
        flags = np.zeros(len(state.category_names), dtype=np.bool_)
        for c in filters.categories:
            k = state.category_index.get(c)
            if k is not None:
                flags[k] = True
        if not flags.any():
            # no known category: nothing can pass (an empty array would mean "any")
            return np.zeros(max(len(flags), 1), dtype=np.bool_)
        return flags

    @staticmethod
    def _excluded_rows(filters: Filters, state) -> np.ndarray:
        if not filters.exclude:
            return NO_ROWS
        rows = (state.row_of(str(i)) for i in filters.exclude)
        return np.array([r for r in rows if r is not None], dtype=np.int64)

    def _filter_mask(self, cand, filters: Filters, state, current_row, seen) -> np.ndarray:
        return keep_mask(
            np.asarray(cand, np.int64), state.available, -1 if current_row is None else current_row,
            np.asarray(seen, np.int64), self._allowed_categories(filters, state),
            state.categories, self._excluded_rows(filters, state),
        )  # fmt: skip

    @staticmethod
    def _top(cand: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
        if len(cand) == 0:
            return np.empty(0, np.int64)
        # best score first; ties by row so that results are deterministic
        order = np.lexsort((cand, -scores))
        return order[:k]

    def _pad(self, rows, scores, k, filters, state, current_row, seen):
        """Fill a short list with popular items that pass the filters (scores below the rest)."""
        if len(rows) >= k:
            return rows, scores
        pool = self._popular_pool(filters, state, current_row)
        pool = pool[~np.isin(pool, rows)]
        pool = pool[self._filter_mask(pool, filters, state, current_row, seen)][: k - len(rows)]
        floor = float(scores.min()) if len(scores) else 0.0
        pad_scores = floor - 1e-3 * (1 + np.arange(len(pool), dtype=np.float32))
        return np.concatenate([rows, pool]), np.concatenate([scores, pad_scores]).astype(np.float32)

    def _popular_pool(self, filters: Filters, state, current_row) -> np.ndarray:
        m = self.model
        if filters.categories is not None:
            cats = [
                state.category_index[c] for c in filters.categories if c in state.category_index
            ]
            pools = [m.popular_by_category.get(c, np.empty(0, np.int64)) for c in cats]
            pool = np.concatenate(pools) if pools else np.empty(0, np.int64)
            return pool[np.argsort(-m.popularity_of(pool), kind="stable")]
        if current_row is not None:
            c = int(state.categories[current_row])
            same = m.popular_by_category.get(c)
            if same is not None:
                return np.concatenate([same, m.popular[~np.isin(m.popular, same)]])
        return m.popular

    def _popular(self, k, filters, current_item, state, unknown) -> Recommendation:
        pool = self._popular_pool(filters, state, None)
        current = state.row_of(str(current_item)) if current_item is not None else None
        pool = pool[self._filter_mask(pool, filters, state, current, np.empty(0, np.int64))][:k]
        scores = self.model.popularity_of(pool)
        return Recommendation(state.ids_of(pool), scores, [None] * len(pool), "popular", unknown)

    def _because(self, ws: WeighedSession, rec_rows: np.ndarray, state) -> list[str | None]:
        """Per recommended item, the session item that contributed most to it: the strongest
        weighted co-visitation link, else the closest by embedding (input . output)."""
        if len(rec_rows) == 0:
            return []
        m = self.model
        rel = m.covisitation.related
        n = m.catalog.n_trained
        session_in = m.input_vectors(ws.rows, state)
        rec_out = m.output_vectors(rec_rows, state)
        best = strongest_sources(
            rel.indptr, rel.indices, rel.weights, ws.rows, ws.recency, n, rec_rows,
            rec_out, session_in, self._scratch.get().targets_pos,
        )  # fmt: skip
        return state.ids_of(ws.rows[best])
