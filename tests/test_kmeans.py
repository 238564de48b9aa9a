"""scikit-learn's own k-means: seeds of ``kmeans_plusplus``, labels of ``KMeans``.

``init_params='k-means++'`` must pick the rows ``sklearn.cluster.kmeans_plusplus``
picks from the same ``RandomState`` and ``'kmeans'`` must end with the labels
of ``KMeans(n_clusters=k, n_init=1)``: the same draws in the same order, the
same Lloyd iterations and stopping rule. Distances are computed another
(exact) way, so only choices decided by rounding may differ; the data here
keep away from such edges (see ``strategies.clusterings``).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import KMeans, kmeans_plusplus

from fastgmm._init import kmeans as _kmeans
from strategies import clusterings


def _rng(seed):
    return np.random.RandomState(seed)


@settings(deadline=None, max_examples=120)
@given(clusterings())
def test_seeds_are_those_of_kmeans_plusplus(case):
    theirs = kmeans_plusplus(case.X, case.n_clusters, sample_weight=case.sample_weight,
                             random_state=_rng(case.seed))[1]
    rng = _rng(case.seed)
    centers, ours = _kmeans.kmeans_plusplus(case.X, case.n_clusters, rng, case.sample_weight)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(centers, case.X[ours].astype(np.float64))
    # The RandomState is left where scikit-learn leaves it.
    after = _rng(case.seed)
    kmeans_plusplus(case.X, case.n_clusters, sample_weight=case.sample_weight,
                    random_state=after)
    assert rng.randint(2**31) == after.randint(2**31)


@settings(deadline=None, max_examples=60)
@given(clusterings(dtypes=(np.float64,), max_rows=1500))
def test_labels_are_those_of_kmeans(case):
    theirs = KMeans(case.n_clusters, n_init=1, random_state=_rng(case.seed)).fit(
        case.X, sample_weight=case.sample_weight)
    centers, labels = _kmeans.kmeans(case.X, case.n_clusters, _rng(case.seed),
                                     case.sample_weight)
    np.testing.assert_array_equal(labels, theirs.labels_)
    np.testing.assert_allclose(centers, theirs.cluster_centers_, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("weighted", [False, True])
def test_float32_labels_are_those_of_kmeans_on_separated_clusters(seed, weighted):
    """scikit-learn sums float32 centres in float32; labels agree where no row is on an edge."""
    rng = np.random.default_rng(seed)
    k, d, n = 5, 3, 3000
    clumps = rng.normal(scale=8.0, size=(k, d))
    X = (clumps[rng.integers(0, k, n)] + rng.normal(size=(n, d))).astype(np.float32)
    w = rng.uniform(0.5, 2.0, n) if weighted else None
    theirs = KMeans(k, n_init=1, random_state=seed).fit(X, sample_weight=w)
    centers, labels = _kmeans.kmeans(X, k, _rng(seed), w)
    np.testing.assert_array_equal(labels, theirs.labels_)
    np.testing.assert_allclose(centers, theirs.cluster_centers_, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("max_iter", [1, 2, 3])
def test_max_iter_ends_with_an_assignment_to_the_last_centres(max_iter):
    rng = np.random.default_rng(5)
    X = rng.normal(size=(2000, 4)) + rng.integers(0, 3, (2000, 1))
    theirs = KMeans(8, n_init=1, random_state=1, max_iter=max_iter).fit(X)
    centers, labels = _kmeans.kmeans(X, 8, _rng(1), max_iter=max_iter)
    assert theirs.n_iter_ == max_iter
    np.testing.assert_array_equal(labels, theirs.labels_)
    np.testing.assert_allclose(centers, theirs.cluster_centers_, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("weighted", [False, True])
def test_empty_clusters_are_relocated_as_in_kmeans(weighted):
    """Start centres no row is nearest to: scikit-learn moves them onto the rows
    farthest from their centres, taking those rows' weight from their clusters."""
    rng = np.random.default_rng(7)
    X = np.concatenate([rng.normal(size=(300, 2)), rng.normal(size=(300, 2)) + 6.0])
    w = rng.uniform(0.5, 3.0, len(X)) if weighted else None
    start = np.array([[0.0, 0.0], [6.0, 6.0], [100.0, 100.0], [-90.0, 50.0], [60.0, -80.0]])
    theirs = KMeans(5, init=start, n_init=1).fit(X, sample_weight=w)
    problems = _kmeans.Problems.one(X, w)
    centers, labels = _kmeans.lloyd_all(problems, start[None].copy())
    np.testing.assert_array_equal(labels, theirs.labels_)
    np.testing.assert_allclose(centers[0], theirs.cluster_centers_, rtol=1e-10, atol=1e-10)
    assert len(np.unique(labels)) == 5


def test_more_clusters_than_distinct_rows_end_as_kmeans_does():
    """Every row on a centre: nothing can be relocated and the empty clusters
    sit where scikit-learn's ``_average_centers`` puts them."""
    X = np.repeat(np.array([[0.0, 1.0], [3.0, 4.0], [5.0, -1.0]]), 20, axis=0)
    start = np.array([[0.0, 1.0], [3.0, 4.0], [5.0, -1.0], [50.0, 50.0], [-50.0, 0.0]])
    with pytest.warns(Warning):
        theirs = KMeans(5, init=start, n_init=1).fit(X)
    centers, labels = _kmeans.lloyd_all(_kmeans.Problems.one(X), start[None].copy())
    np.testing.assert_array_equal(labels, theirs.labels_)
    np.testing.assert_allclose(centers[0], theirs.cluster_centers_, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("d", [2, 5])  # every distance / Hamerly's bounds
def test_same_bits_for_any_number_of_threads(d):
    import numba

    rng = np.random.default_rng(3)
    X = rng.normal(size=(40_000, d)) + rng.integers(0, 4, (40_000, 1)) * 0.7
    results = []
    before = numba.get_num_threads()
    try:
        for threads in sorted({1, before}):
            numba.set_num_threads(threads)
            results.append(_kmeans.kmeans(X, 7, _rng(0)))
    finally:
        numba.set_num_threads(before)
    for centers, labels in results[1:]:
        np.testing.assert_array_equal(centers, results[0][0])
        np.testing.assert_array_equal(labels, results[0][1])


@pytest.mark.parametrize("k", [1, 2, 9])
def test_bounds_never_change_a_label_the_full_assignment_gives(k):
    """Hamerly's bounds only skip rows whose nearest centre is certain: the
    labels equal those of comparing every distance to the final centres,
    wherever rounding cannot decide the comparison (the distances are
    computed as |x|^2 + |c|^2 - 2 x.c about the data mean, whose rounding is
    relative to |x|^2 + |c|^2 there). Six features: fewer get every
    distance computed, without bounds."""
    rng = np.random.default_rng(k)
    X = rng.normal(size=(5000, 6)) * [1.0, 1e-3, 1e3, 1.0, 1e-3, 1e3] + 1e4
    centers, labels = _kmeans.kmeans(X, k, _rng(k))
    d2 = ((X[:, None, :] - centers[None]) ** 2).sum(axis=2)
    mean = X.mean(axis=0)
    scale = ((X - mean) ** 2).sum(axis=1) + ((centers - mean) ** 2).sum(axis=1).max()
    gap = np.diff(np.sort(d2, axis=1)[:, :2], axis=1)[:, 0] if k > 1 else np.inf
    certain = gap > 1e-10 * scale
    assert certain.mean() > 0.99
    np.testing.assert_array_equal(labels[certain], np.argmin(d2, axis=1)[certain])


def _many_clusters(k, dtype, n=2 * 8192 + 123, d=5):
    """Clusters over several chunks; float32 rows are small integers (exact sums)."""
    rng = np.random.default_rng(k)
    X = rng.normal(scale=3.0, size=(k, d))[rng.integers(0, k, n)] + rng.normal(size=(n, d))
    if dtype == np.float32:
        X = np.round(X * 2.0)
    return X.astype(dtype), rng.integers(1, 4, n).astype(np.float64)


# 21 and 55 clusters: 5 and 6 local trials, a group of four candidates whose
# distances are summed side by side and one or two left over.
@pytest.mark.parametrize("k", [21, 55])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_seeds_of_many_clusters_over_several_chunks_are_those_of_kmeans_plusplus(k, dtype):
    X, w = _many_clusters(k, dtype)
    for sample_weight in (None, w):
        theirs = kmeans_plusplus(X, k, sample_weight=sample_weight, random_state=_rng(k))[1]
        ours = _kmeans.kmeans_plusplus(X, k, _rng(k), sample_weight)[1]
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize("weighted", [False, True])
def test_float32_seeds_are_those_of_kmeans_plusplus_where_float32_sums_round(weighted):
    """A float32 potential summed over many rows is off by more than one row's share.

    scikit-learn scales its draws by float32 matrix products, so its seeds
    depend on how they round: with 200,000 general float32 rows, draws
    scaled by a potential summed any other way land on other rows from the
    second seed on.
    """
    rng = np.random.default_rng(7)
    n, d, k = 200_000, 3, 8
    X = (rng.normal(scale=0.5, size=(k, d))[rng.integers(0, k, n)]
         + rng.normal(size=(n, d))).astype(np.float32)
    w = rng.uniform(0.5, 2.0, n) if weighted else None
    for seed in range(3):
        theirs = kmeans_plusplus(X, k, sample_weight=w, random_state=_rng(seed))[1]
        ours = _kmeans.kmeans_plusplus(X, k, _rng(seed), w)[1]
        np.testing.assert_array_equal(ours, theirs)


def test_seeds_are_the_same_for_any_number_of_threads():
    import numba

    X, w = _many_clusters(21, np.float64, d=3)
    before = numba.get_num_threads()
    results = []
    try:
        for threads in sorted({1, before}):
            numba.set_num_threads(threads)
            results.append(_kmeans.kmeans_plusplus(X, 21, _rng(0), w))
    finally:
        numba.set_num_threads(before)
    for centers, indices in results[1:]:
        np.testing.assert_array_equal(indices, results[0][1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weights", ["unit", "integers", "one nonzero"])
def test_first_seed_is_the_row_numpy_choice_picks_even_on_its_edges(dtype, weights):
    """``RandomState.choice(n, p=w / w.sum())`` searches the normalised float64
    cumulative sum of ``p`` for its uniform draw; draws equal to a sum (the
    edges between two rows) and just beside it pick the same row."""
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 1000, 3 * 8192 + 5):
        w = {"unit": None, "integers": rng.integers(0, 4, n).astype(np.float64),
             "one nonzero": np.zeros(n)}[weights]
        if w is not None:
            w[n // 2] = 3.0
        p = np.ones(n, dtype) if w is None else w.astype(dtype)
        cdf = np.cumsum(p / p.sum(), dtype=np.float64)
        cdf /= cdf[-1]
        draws = np.concatenate([cdf[:4], cdf[-4:], cdf[n // 2 - 1:n // 2 + 1], [0.0, 0.5]])
        for u in np.concatenate([draws, np.nextafter(draws, 0), np.nextafter(draws, 1)]):
            u = float(min(max(u, 0.0), np.nextafter(1.0, 0.0)))
            expected = min(np.searchsorted(cdf, u, side="right"), n - 1)
            assert _kmeans.first_seed(u, w, n, np.dtype(dtype)) == expected
