"""What the compiled request kernel (engine/candidate_stage.py) reads, grouped into two objects.

:class:`ModelArrays` holds a model's read-only arrays and constants (co-visitation, the
session index, popularity, output vectors, the session neighbourhood's parameters, the
feature columns); it is built once per loaded model. :class:`ScratchArrays` holds one
thread's scratch buffers; it is built once per thread. Both are numba structrefs: the compiled
call takes these two instead of some thirty separate arrays and numbers, and unboxes each
with one pointer (a tuple or a namedtuple would be typed element by element on every call,
which measured slower than the separate arguments).

``columns`` maps every feature name of engine/ranking.py's ``FEATURES`` to its column in the
feature matrix. It is generated from that one name table and travels inside
:class:`ModelArrays`, so its names are part of the compiled kernel's type: a renamed feature
fails to compile instead of filling a stale column, and a reordered table moves the columns
with it (numba's on-disk cache does not see a constant of another module change; it does see
an argument's type change).
"""

from __future__ import annotations

from collections import namedtuple

import numba as nb
from numba.core import types
from numba.experimental import structref

from engine.ranking import FEATURES
from engine.session_knn import session_weights

#: The column of each feature, by name: ``FEATURE_COLUMNS.related`` is 0, and so on.
FEATURE_COLUMNS = namedtuple("FeatureColumns", FEATURES)(*range(len(FEATURES)))


@structref.register
class ModelArraysType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(kind)) for name, kind in fields)


class ModelArrays(structref.StructRefProxy):
    """A model's arrays and constants as the request kernel reads them (read-only).

    Fields: ``rel_*`` and ``suc_*`` the co-visitation matrices (CSR: ptr, idx, w);
    ``kn_ptr``/``kn_idx`` the past sessions, ``inv_*`` their inverted index, ``kn_*`` the
    session neighbourhood's parameters (engine/session_knn.py); ``popular`` the popular rows;
    ``log_pop``/``log_pop_recent`` per trained row; ``n_trained``; ``vout`` the output
    vectors; ``columns`` the feature columns (:data:`FEATURE_COLUMNS`).
    """


@structref.register
class ScratchArraysType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(kind)) for name, kind in fields)


class ScratchArrays(structref.StructRefProxy):
    """One thread's scratch buffers of the request kernel (see engine/signals.py's
    ``Scratch``, which owns the same arrays): left as found by every call."""


_MODEL_FIELDS = (
    "rel_ptr", "rel_idx", "rel_w", "suc_ptr", "suc_idx", "suc_w",
    "kn_ptr", "kn_idx", "inv_ptr", "inv_sess", "inv_pos",
    "kn_sample", "kn_k", "kn_distance_decay", "kn_backward", "kn_length_norm", "kn_idf",
    "kn_recency", "kn_length_pow", "kn_recency_w", "kn_distance_w",
    "popular", "log_pop", "log_pop_recent", "n_trained", "vout", "columns",
)  # fmt: skip
_SCRATCH_FIELDS = (
    "signals", "touched", "mark", "cand", "session_sim", "session_shared", "session_touched",
)  # fmt: skip
structref.define_proxy(ModelArrays, ModelArraysType, list(_MODEL_FIELDS))
structref.define_proxy(ScratchArrays, ScratchArraysType, list(_SCRATCH_FIELDS))


@nb.njit(cache=True)
def _model_arrays(
    rel_ptr, rel_idx, rel_w, suc_ptr, suc_idx, suc_w, kn_ptr, kn_idx, inv_ptr, inv_sess,
    inv_pos, kn_sample, kn_k, kn_distance_decay, kn_backward, kn_length_norm, kn_idf,
    kn_recency, kn_length_pow, kn_recency_w, kn_distance_w, popular, log_pop, log_pop_recent,
    n_trained, vout, columns,
):  # fmt: skip
    # built in compiled code (cached on disk) rather than by the proxy's own constructor,
    # which numba compiles again in every process
    return ModelArrays(
        rel_ptr, rel_idx, rel_w, suc_ptr, suc_idx, suc_w, kn_ptr, kn_idx, inv_ptr, inv_sess,
        inv_pos, kn_sample, kn_k, kn_distance_decay, kn_backward, kn_length_norm, kn_idf,
        kn_recency, kn_length_pow, kn_recency_w, kn_distance_w, popular, log_pop,
        log_pop_recent, n_trained, vout, columns,
    )  # fmt: skip


@nb.njit(cache=True)
def _scratch_arrays(signals, touched, mark, cand, session_sim, session_shared, session_touched):
    return ScratchArrays(signals, touched, mark, cand, session_sim, session_shared, session_touched)


def model_arrays(model) -> ModelArrays:
    """The kernel's view of a :class:`~engine.model.RecommenderModel` (built once per model)."""
    rel, suc, kn = model.covisitation.related, model.covisitation.successors, model.session_knn
    p = kn.params
    weights = session_weights(kn.indptr, p.length_norm, p.recency_sessions, p.distance_decay,
                              p.backward_weight)  # fmt: skip
    return _model_arrays(
        rel.indptr, rel.indices, rel.weights, suc.indptr, suc.indices, suc.weights,
        kn.indptr, kn.indices, kn.inv_ptr, kn.inv_sessions, kn.inv_positions,
        p.sample, p.k, p.distance_decay, p.backward_weight, p.length_norm, p.idf_power,
        p.recency_sessions, *weights, model.popular_rows, model.log_popularity,
        model.log_recent_popularity, model.catalog.n_trained, model.vectors.output,
        FEATURE_COLUMNS,
    )  # fmt: skip


def scratch_arrays(scratch) -> ScratchArrays:
    """The kernel's view of one thread's :class:`~engine.signals.Scratch`."""
    s = scratch
    return _scratch_arrays(
        s.signals, s.touched, s.mark, s.cand, s.session_sim, s.session_shared, s.session_touched
    )
