"""Hypothesis strategies: small, well-posed mixture problems.

Hypothesis draws the shape of the problem (covariance type, dtype, k, d, n,
spread, location) and a seed; the numbers themselves come from a seeded
NumPy generator, which keeps examples cheap to build and to shrink.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

import naive

COVARIANCE_TYPES = naive.COVARIANCE_TYPES
DTYPES = (np.float32, np.float64)


@dataclass
class Problem:
    X: np.ndarray
    covariance_type: str
    n_components: int
    init: dict  # weights_init, means_init, precisions_init (float64)

    def kwargs(self, **extra):
        """GaussianMixture keyword arguments for this problem."""
        return dict(n_components=self.n_components, covariance_type=self.covariance_type,
                    **self.init, **extra)

    def __repr__(self):  # what hypothesis prints for a failing example
        return (f"Problem(n={self.X.shape[0]}, d={self.X.shape[1]}, "
                f"k={self.n_components}, {self.covariance_type!r}, {self.X.dtype})")


@st.composite
def problems(draw, max_components=3, max_features=3, min_rows=None, max_rows=300,
             dtypes=DTYPES, covariance_types=COVARIANCE_TYPES):
    """A mixture sample and explicit initial parameters near its components.

    Every component holds a reasonable share of the rows (at least ~20 per
    component) and variances of order one, so EM is well posed.
    """
    cov_type = draw(st.sampled_from(covariance_types))
    dtype = draw(st.sampled_from(dtypes))
    k = draw(st.integers(1, max_components))
    d = draw(st.integers(1, max_features))
    n = draw(st.integers(min_rows if min_rows is not None else 40 * k, max_rows))
    separation = draw(st.sampled_from([0.0, 2.0, 6.0]))
    location = draw(st.sampled_from([0.0, 100.0, -1e4]))
    seed = draw(st.integers(0, 2**32 - 1))

    rng = np.random.default_rng(seed)
    weights = 0.5 * rng.dirichlet(np.full(k, 3.0)) + 0.5 / k
    means = location + rng.normal(scale=separation, size=(k, d))
    covariances = naive.random_covariances(rng, cov_type, k, d)
    X, _ = naive.sample(rng, n, weights, means, covariances, cov_type)
    init = dict(
        weights_init=np.full(k, 1.0 / k),
        means_init=means + rng.normal(scale=0.3, size=(k, d)),
        precisions_init=naive.inverse(
            naive.random_covariances(rng, cov_type, k, d, scale=2.0), cov_type),
    )
    return Problem(np.ascontiguousarray(X, dtype=dtype), cov_type, k, init)


@dataclass
class Clustering:
    X: np.ndarray
    n_clusters: int
    sample_weight: np.ndarray | None
    seed: int

    def __repr__(self):
        weighted = "weighted" if self.sample_weight is not None else "unweighted"
        return (f"Clustering(n={self.X.shape[0]}, d={self.X.shape[1]}, k={self.n_clusters}, "
                f"{self.X.dtype}, {weighted}, seed={self.seed})")


@st.composite
def clusterings(draw, max_clusters=12, max_features=6, max_rows=2000, dtypes=DTYPES,
                integer_float32=True):
    """Rows in clumps of several sizes, a number of clusters and a ``random_state`` seed.

    The draws of k-means++ depend on sums of squared distances; away from
    rounding edges fastgmm and scikit-learn make the same choices. Float64
    rows are continuous (an edge is hit with probability ~1e-13 per draw).
    With ``integer_float32`` float32 rows are small integers, so that every
    distance, sum and potential is an exact integer in either library's
    order of operations (float32 sums of continuous values differ from
    scikit-learn's BLAS in the last bits and move draws across edges);
    weights are small integers too. Every cluster has ten rows or more.
    """
    dtype = draw(st.sampled_from(dtypes))
    d = draw(st.integers(1, max_features))
    k = draw(st.integers(1, max_clusters))
    # Many rows per cluster: with a handful of rows, two candidates often
    # leave exactly the same potential (symmetric configurations), a tie
    # that rounding decides.
    n = draw(st.integers(max(30, 10 * k), max(max_rows, 10 * k)))
    n_clumps = draw(st.integers(1, 8))
    spread = draw(st.sampled_from([0.5, 3.0, 10.0]))
    weighted = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    clumps = rng.normal(scale=spread, size=(n_clumps, d))
    X = clumps[rng.integers(0, n_clumps, n)] + rng.normal(size=(n, d))
    if dtype == np.float32 and integer_float32:
        X = np.round(X * 2.0)
    w = rng.integers(1, 4, n).astype(np.float64) if weighted else None
    return Clustering(np.ascontiguousarray(X, dtype=dtype), k, w, seed)
