"""Accuracy with missing values: marginalising against dropping rows and mean imputation.

Not an asv suite; run ``python -m benchmarks.missing_accuracy`` from the
repository root. Data: three overlapping full-covariance components in 6
dimensions (``tests/test_missing.py``'s accuracy problem), 4000 rows, 20% of
the entries removed at random (about 74% of the rows lose at least one),
seeds 31 to 35. Each method fits 3 components (``n_init=3``,
``random_state=0``); errors are mean absolute errors of the means and
covariances after matching the fitted components to the true ones, and the
RMSE of the removed entries for imputation.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment

from fastgmm import GaussianMixture


def problem(seed, n=4000, d=6, rate=0.2):
    rng = np.random.default_rng(seed)
    weights = np.array([0.5, 0.3, 0.2])
    means = np.zeros((3, d))
    means[1, :2] = 4.0
    means[2, 1:] = 4.0
    A = rng.normal(size=(3, d, d)) * 0.6
    covs = A @ A.transpose(0, 2, 1) + 0.5 * np.eye(d)
    labels = rng.choice(3, size=n, p=weights)
    X = np.empty((n, d))
    for j in range(3):
        rows = labels == j
        X[rows] = rng.multivariate_normal(means[j], covs[j], size=int(rows.sum()))
    Xm = X.copy()
    Xm[rng.random(X.shape) < rate] = np.nan
    return X, Xm, (weights, means, covs)


def errors(gm, truth):
    _, means, covs = truth
    cost = ((gm.means_[:, None, :] - means[None]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    return (np.abs(gm.means_[rows] - means[cols]).mean(),
            np.abs(gm.covariances_[rows] - covs[cols]).mean())


def main():
    kw = dict(n_components=3, random_state=0, n_init=3)
    table = {"marginalize": [], "omit (drop incomplete rows)": [],
             "column means, then fit": [], "complete data (no entry removed)": []}
    impute = {"GaussianMixture.impute": [], "column means": []}
    for seed in range(31, 36):
        X, Xm, truth = problem(seed)
        filled = np.where(np.isnan(Xm), np.nanmean(Xm, axis=0), Xm)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # rows with every entry removed
            marg = GaussianMixture(nan_policy="marginalize", **kw).fit(Xm)
            fits = [marg, GaussianMixture(nan_policy="omit", **kw).fit(Xm),
                    GaussianMixture(**kw).fit(filled), GaussianMixture(**kw).fit(X)]
            removed = np.isnan(Xm)
            impute["GaussianMixture.impute"].append(
                np.sqrt(np.mean((marg.impute(Xm)[removed] - X[removed]) ** 2)))
        impute["column means"].append(np.sqrt(np.mean((filled[removed] - X[removed]) ** 2)))
        for name, gm in zip(table, fits):
            table[name].append(errors(gm, truth))
    print("| method | error of the means | error of the covariances |")
    print("|---|---|---|")
    for name, rows in table.items():
        m = np.mean(rows, axis=0)
        print(f"| {name} | {m[0]:.4f} | {m[1]:.4f} |")
    print()
    print("| imputation | RMSE on the removed entries |")
    print("|---|---|")
    for name, rows in impute.items():
        print(f"| {name} | {np.mean(rows):.3f} |")


if __name__ == "__main__":
    main()
