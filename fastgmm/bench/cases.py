"""The benchmark cases of ``fastgmm bench`` and the data they fit.

Each :class:`Case` is a data shape (rows, features, components, covariance
type) with the speed-up over scikit-learn it should reach; the data are
random centres plus standard normal noise (:func:`make_data`), and every
library starts from the same parameters (:func:`initial_parameters`).
:func:`with_missing` punches the missing-value patterns of issue 24 into
such data; ``fastgmm bench --extras missing``, the asv suite
``benchmarks/bench_missing.py`` and ``benchmarks/missing_ratio.py`` all take
their NaN from it.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

# Centre scales of the data: overlapping, middle, well separated components.
SEPARATIONS = (0.5, 3.0, 10.0)


@dataclass(frozen=True)
class Case:
    """One row of the comparison."""

    name: str
    n_samples: int
    n_features: int
    n_components: int
    covariance_type: str
    goal: float
    bayesian: bool = False  # BayesianGaussianMixture instead of GaussianMixture


CASES = (
    Case("low-dim", 1_000_000, 2, 8, "full", 30.0),
    Case("main", 1_000_000, 16, 16, "full", 30.0),
    Case("diag", 1_000_000, 16, 16, "diag", 15.0),
    Case("wide", 200_000, 64, 16, "full", 8.0),
    Case("tied", 1_000_000, 16, 16, "tied", 15.0),
    Case("spherical", 1_000_000, 16, 16, "spherical", 15.0),
    Case("bayes-main", 1_000_000, 16, 16, "full", 20.0, bayesian=True),
)
CASES_BY_NAME = {case.name: case for case in CASES}


# ------------------------------------------------------------------ data
def make_data(n_samples, n_features, n_components, dtype=np.float64, seed=0,
              separation=3.0):
    """The benchmark data: points = random centre + standard normal noise.

    ``rng = np.random.default_rng(seed)``, centres
    ``rng.normal(scale=separation, size=(k, d))``, labels ``rng.integers(0, k, n)``,
    then the noise. The noise is drawn a slice at a time straight into
    ``X`` (the same numbers as one big draw), so building ``X`` needs little
    more memory than ``X`` itself.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=separation, size=(n_components, n_features))
    labels = rng.integers(0, n_components, n_samples)
    X = np.empty((n_samples, n_features), dtype=dtype)
    step = 65_536
    for start in range(0, n_samples, step):
        stop = min(start + step, n_samples)
        noise = rng.standard_normal((stop - start, n_features))
        noise += centres[labels[start:stop]]
        X[start:stop] = noise
    return X


# The missing-value patterns (issue 24), by name: what each removes.
MISSING_PATTERNS = {
    "complete": "no entry missing",
    "scattered": "10% of entries missing at random",
    "block": "30% of rows miss the same 4 columns",
}


def with_missing(X, pattern, seed=1):
    """A copy of ``X`` with the entries of a missing-value ``pattern`` set to NaN.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The complete data; not modified. The copy keeps its dtype.
    pattern : {'complete', 'scattered', 'block'}
        ``'complete'``: no entry removed. ``'scattered'``: each entry
        independently with probability 0.1 (on 16 features about 81% of the
        rows lose at least one entry, in thousands of distinct patterns).
        ``'block'``: each row with probability 0.3 loses the last 4 columns
        (one pattern).
    seed : int, default=1
        Seed of ``np.random.default_rng`` that draws the missing entries.

    Returns
    -------
    X_missing : ndarray of shape (n_samples, n_features)
    """
    if pattern not in MISSING_PATTERNS:
        raise ValueError(f"pattern={pattern!r}: choose from {list(MISSING_PATTERNS)}")
    X = np.array(X, copy=True)
    if pattern == "complete":
        return X
    rng = np.random.default_rng(seed)
    n, d = X.shape
    if pattern == "scattered":
        # A slice at a time, so the mask never costs n x d booleans at once.
        for start in range(0, n, 65_536):
            block = X[start:start + 65_536]
            block[rng.random(block.shape) < 0.1] = np.nan
    else:
        if d < 4:
            raise ValueError(f"pattern='block' removes 4 columns; X has only {d}")
        rows = np.flatnonzero(rng.random(n) < 0.3)
        X[np.ix_(rows, np.arange(d - 4, d))] = np.nan
    return X


def initial_parameters(X, n_components, covariance_type, n_sub=20_000):
    """Shared starting point: a short scikit-learn fit on the first rows.

    Rows are in random order, so the first ``n_sub`` are a random subsample.
    Returns the ``weights_init``, ``means_init`` and ``precisions_init``
    keyword arguments (float64) that both libraries accept.
    """
    from sklearn.mixture import GaussianMixture

    sub = np.asarray(X[: min(n_sub, X.shape[0])], dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(n_components, covariance_type=covariance_type,
                             max_iter=5, random_state=0).fit(sub)
    return {"weights_init": gm.weights_, "means_init": gm.means_,
            "precisions_init": gm.precisions_}


def n_rows(case, scale):
    """``n`` scaled, but enough rows that no component's covariance is singular."""
    return max(int(case.n_samples * scale), 4 * case.n_components * (case.n_features + 1))
