import numpy as np
import pytest

from engine.errors import ConfigError
from engine.index import ExactIndex, HnswIndex, HnswParams


def _clustered(n=3000, dim=32, clusters=30, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    x = centres[rng.integers(clusters, size=n)] + 0.3 * rng.normal(size=(n, dim))
    return x.astype(np.float32), rng.normal(size=(200, dim)).astype(np.float32)


@pytest.mark.parametrize("space", ["ip", "cosine"])
def test_hnsw_recall_against_exact(space):
    x, queries = _clustered()
    exact = ExactIndex(x, space)
    hnsw = HnswIndex.build(x, space, HnswParams(M=16, ef_construction=100, ef=200), threads=1)
    want, _ = exact.query(queries, 20)
    got, got_scores = hnsw.query(queries, 20)
    recall = np.mean([len(set(a) & set(b)) / 20 for a, b in zip(want, got, strict=True)])
    assert recall >= 0.95
    # scores are "higher is better" in both, and equal for the same rows
    assert np.all(np.diff(got_scores, axis=1) <= 1e-5)
    rows = got[0]
    np.testing.assert_allclose(got_scores[0], exact.scores(queries[0])[rows], atol=1e-4)


def test_exact_query_sorted_and_single():
    x, queries = _clustered(n=500)
    rows, scores = ExactIndex(x, "ip").query(queries[0], 10)
    full = x @ queries[0]
    assert rows.tolist() == np.argsort(-full)[:10].tolist()
    np.testing.assert_allclose(scores, full[rows], rtol=1e-5)


def test_save_load_reapplies_ef(tmp_path):
    x, queries = _clustered(n=800)
    params = HnswParams(M=8, ef_construction=50, ef=64)
    built = HnswIndex.build(x, "ip", params, threads=1)
    meta = built.save(tmp_path / "i.bin")
    loaded = HnswIndex.load(tmp_path / "i.bin", meta, len(x), x.shape[1])
    a, sa = built.query(queries, 10)
    b, sb = loaded.query(queries, 10)
    assert np.array_equal(a, b)
    np.testing.assert_allclose(sa, sb)
    with pytest.raises(ConfigError, match="exceeds the index's ef"):
        loaded.query(queries[0], 65)


def test_bad_space_and_params():
    with pytest.raises(ConfigError):
        ExactIndex(np.ones((2, 2)), "l2")
    with pytest.raises(ConfigError):
        HnswParams(M=1)
