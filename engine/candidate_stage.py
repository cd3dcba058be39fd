"""The candidate stage and the ranking features of one request, in one compiled call.

Python prepares the session (rows, weights) and the HNSW neighbours; this kernel, given the
model's arrays and the thread's scratch buffers grouped once (engine/kernel_arrays.py), runs the
generators (co-visitation, session neighbourhood, successors of the newest item, repeats),
keeps the strongest candidates of each, computes the features of engine/ranking.py's
``FEATURES`` for them and clears its scratch buffers. One call instead of dozens of small
numpy operations keeps a request well under a millisecond.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from engine.ranking import FEATURES
from engine.session_knn import session_knn_scores
from engine.signals import (
    NEIGHBOURS,
    RELATED,
    REPEATS,
    SUCCESSORS,
    add_candidates,
    add_items,
    add_rows,
    take_top,
)

N_FEATURES = len(FEATURES)


@nb.njit(cache=True)
def _fill_features(
    cand, n_cand, buf, session_rows, categories, log_pop, log_pop_recent, n_trained,
    vout, new_vout, session_vec, c, out,
):  # fmt: skip
    """Row ``a`` of ``out``: the features of candidate ``cand[a]``, each in its column
    ``c.<name>`` (engine/kernel_arrays.py's FEATURE_COLUMNS, from FEATURES)."""
    max_rel = 0.0
    max_nb = 0.0
    for a in range(n_cand):
        r = cand[a]
        if buf[RELATED, r] > max_rel:
            max_rel = buf[RELATED, r]
        if buf[NEIGHBOURS, r] > max_nb:
            max_nb = buf[NEIGHBOURS, r]
    if max_rel <= 0:
        max_rel = 1.0
    if max_nb <= 0:
        max_nb = 1.0
    newest = session_rows[0]
    last_cat = categories[newest]
    n_valid = 0
    for i in range(len(session_rows)):
        if categories[session_rows[i]] >= 0:
            n_valid += 1
    dim = len(session_vec)
    for a in range(n_cand):
        r = cand[a]
        rel_raw = buf[RELATED, r]
        nb_raw = buf[NEIGHBOURS, r]
        rel = rel_raw / max_rel
        nbs = nb_raw / max_nb
        rep = buf[REPEATS, r]
        succ = buf[SUCCESSORS, r]
        emb = 0.0
        if r < n_trained:
            for d in range(dim):
                emb += vout[r, d] * session_vec[d]
        else:
            for d in range(dim):
                emb += new_vout[r - n_trained, d] * session_vec[d]
        cat = categories[r]
        share = 0.0
        if cat >= 0 and n_valid > 0:
            same = 0
            for i in range(len(session_rows)):
                if categories[session_rows[i]] == cat:
                    same += 1
            share = same / n_valid
        f = out[a]
        f[c.related] = rel
        f[c.neighbours] = nbs
        f[c.repeat] = rep
        f[c.embedding] = emb
        f[c.log_popularity] = log_pop[r] if r < n_trained else 0.0
        f[c.log_recent_popularity] = log_pop_recent[r] if r < n_trained else 0.0
        f[c.is_last] = 1.0 if r == newest else 0.0
        f[c.same_category_as_last] = 1.0 if (cat == last_cat and last_cat >= 0) else 0.0
        f[c.category_share] = share
        f[c.log_related] = np.log(rel + 1e-3)
        f[c.log_neighbours] = np.log(nbs + 1e-3)
        f[c.successor] = succ
        f[c.log_successor] = np.log(succ + 1e-3)
        f[c.in_session] = 1.0 if rep > 0 else 0.0
        f[c.log_related_raw] = np.log(rel_raw + 1e-4)
        f[c.log_neighbours_raw] = np.log(nb_raw + 1e-2)


@nb.njit(cache=True)
def candidate_features(
    m, sc, session_rows, warm_rows, warm_recency, warm_decayed, newest_rows, newest_share,
    occurrences, found, fresh, categories, new_vout, session_vec, ranking,
):  # fmt: skip
    """Candidates (rows) and their feature matrix; see the module docstring.

    ``m``: the model's arrays (engine/kernel_arrays.py's ModelArrays); ``sc``: this thread's
    scratch buffers (ScratchArrays), left as found. ``session_rows``: distinct session rows,
    newest first. ``warm_*``: the trained rows standing for them (new products replaced by
    their warm neighbours), with co-visitation (recency) and session-kNN (decayed) weights.
    ``newest_*``: rows whose successors count, and their shares. ``occurrences``: every
    session event's row, oldest first (for ``repeat``). ``found``: HNSW neighbours of the
    session vector. ``fresh``: products without views to explore (the freshness boost),
    always candidates. ``categories``, ``new_vout``: the catalogue state's category per row
    and vectors of products added since training. ``ranking``: (repeat decay, related,
    neighbour and minimum candidate counts) of the ranker in use.
    """
    repeat_decay, related_n, neighbour_n, min_candidates = ranking
    buf, touched, mark, cand = sc.signals, sc.touched, sc.mark, sc.cand
    n_rel = 0
    n_nb = 0
    n_suc = 0
    if len(warm_rows):
        n_rel = add_rows(
            m.rel_ptr, m.rel_idx, m.rel_w, warm_rows, warm_recency, buf[RELATED],
            touched[RELATED], 0,
        )  # fmt: skip
        n_nb = session_knn_scores(
            m, sc, warm_rows, warm_decayed, buf[NEIGHBOURS], touched[NEIGHBOURS], 0
        )
        n_suc = add_rows(
            m.suc_ptr, m.suc_idx, m.suc_w, newest_rows, newest_share, buf[SUCCESSORS],
            touched[SUCCESSORS], 0,
        )  # fmt: skip
    n_occ = len(occurrences)
    rep_w = np.empty(n_occ, np.float32)
    for i in range(n_occ):
        rep_w[i] = repeat_decay ** (n_occ - 1 - i)
    n_rep = add_items(occurrences, rep_w, buf[REPEATS], touched[REPEATS], 0)

    nc = add_candidates(session_rows, mark, cand, 0, len(mark))
    nc = take_top(buf[RELATED], touched[RELATED], n_rel, related_n, mark, cand, nc)
    nc = take_top(buf[NEIGHBOURS], touched[NEIGHBOURS], n_nb, neighbour_n, mark, cand, nc)
    nc = add_candidates(found, mark, cand, nc, len(mark))
    nc = add_candidates(fresh, mark, cand, nc, len(mark))
    nc = add_candidates(m.popular, mark, cand, nc, min_candidates + len(session_rows))

    # NaN until written: a feature of the table that the kernel does not fill shows
    features = np.full((nc, len(m.columns)), np.nan, np.float32)
    _fill_features(
        cand, nc, buf, session_rows, categories, m.log_pop, m.log_pop_recent, m.n_trained,
        m.vout, new_vout, session_vec, m.columns, features,
    )  # fmt: skip
    out = cand[:nc].astype(np.int64)
    # clear the scratch for the next request
    for a in range(n_rel):
        buf[RELATED, touched[RELATED, a]] = 0.0
    for a in range(n_nb):
        buf[NEIGHBOURS, touched[NEIGHBOURS, a]] = 0.0
    for a in range(n_suc):
        buf[SUCCESSORS, touched[SUCCESSORS, a]] = 0.0
    for a in range(n_rep):
        buf[REPEATS, touched[REPEATS, a]] = 0.0
    for a in range(nc):
        mark[cand[a]] = 0
    return out, features


@nb.njit(cache=True)
def keep_mask(cand, available, current_row, seen, allowed_categories, categories, excluded):
    """Which candidates pass the business filters: available, not the current product
    (``current_row``, -1 for none), not in ``seen`` or ``excluded``, and of an allowed category
    (``allowed_categories``: a flag per category index, or empty for any)."""
    n = len(cand)
    keep = np.zeros(n, np.bool_)
    for a in range(n):
        c = cand[a]
        ok = available[c] and c != current_row
        if ok and len(allowed_categories):
            cat = categories[c]
            ok = cat >= 0 and cat < len(allowed_categories) and allowed_categories[cat]
        if ok:
            for s in seen:
                if s == c:
                    ok = False
                    break
        if ok:
            for s in excluded:
                if s == c:
                    ok = False
                    break
        keep[a] = ok
    return keep


@nb.njit(cache=True)
def rank_and_filter(
    cand, features, weights, available, current_row, seen, allowed_categories, categories,
    excluded, boosted, boost, k,
):  # fmt: skip
    """Score the candidates, add ``boost`` to those in ``boosted`` (the freshness boost), drop
    filtered ones (:func:`keep_mask`), return the top ``k`` (rows, scores), best first, ties by
    row."""
    idx = np.flatnonzero(
        keep_mask(cand, available, current_row, seen, allowed_categories, categories, excluded)
    )
    scores = features[idx] @ weights
    for a in range(len(idx)):
        for b in boosted:
            if b == cand[idx[a]]:
                scores[a] += boost
                break
    by_row = np.argsort(cand[idx])  # a stable sort by score then keeps ties in row order
    order = by_row[np.argsort(-scores[by_row], kind="mergesort")][:k]
    return cand[idx[order]], scores[order]
