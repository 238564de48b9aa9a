"""Intel oneDAL's EM as a peer of ``fastgmm bench --peers onedal``.

``daal4py.em_gmm`` from the ``scikit-learn-intelex`` package; full and
diagonal covariances only.
"""

from __future__ import annotations

import time

import numpy as np


class OneDAL:
    """Intel oneDAL's EM (``daal4py.em_gmm``) behind the estimator interface that
    :func:`fastgmm.bench.timing.per_iteration` times.

    Started from the same weights, means and covariances, run for exactly
    ``max_iter`` iterations (``accuracyThreshold=0``) on all threads.
    """

    storage = {"full": "full", "diag": "diagonal"}

    def __init__(self, n_components, covariance_type, max_iter, tol, n_init, weights_init,
                 means_init, precisions_init):
        self.k, self.cov, self.max_iter = n_components, covariance_type, max_iter
        self.weights, self.means, self.precisions = weights_init, means_init, precisions_init

    def fit(self, X):
        import daal4py

        fptype = "float" if X.dtype == np.float32 else "double"
        covs = np.linalg.inv(self.precisions) if self.cov == "full" else 1.0 / self.precisions
        algo = daal4py.em_gmm(nComponents=self.k, maxIterations=self.max_iter,
                              accuracyThreshold=0.0, fptype=fptype,
                              covarianceStorage=self.storage[self.cov])
        result = algo.compute(X, np.asarray(self.weights, X.dtype)[None],
                              np.asarray(self.means, X.dtype),
                              [np.asarray(c, X.dtype)[None] if self.cov == "diag"
                               else np.asarray(c, X.dtype) for c in covs])
        self.lower_bound_ = float(np.ravel(result.goalFunction)[0]) / X.shape[0]
        self.n_iter_ = int(np.ravel(result.nIterations)[0])
        return self


def default_fit(X, n_components, covariance_type, max_iter=100, tol=1e-3):
    """Seconds and iterations of oneDAL's whole fit, as its user runs it.

    oneDAL's own initialisation (``daal4py.em_gmm_init`` with its defaults:
    short EM runs from random starts, the best kept), then ``em_gmm`` to
    scikit-learn's ``max_iter`` and ``tol``. oneDAL stops when its goal
    function, the total log-likelihood, changes by less than its threshold,
    so the threshold is ``tol`` times the number of rows (scikit-learn's
    ``tol`` is per row). Timed whole, on the threads ``daal4py.daalinit``
    set.
    """
    import daal4py

    fptype = "float" if X.dtype == np.float32 else "double"
    storage = OneDAL.storage[covariance_type]
    start = time.perf_counter()
    init = daal4py.em_gmm_init(nComponents=n_components, fptype=fptype,
                               covarianceStorage=storage).compute(X)
    result = daal4py.em_gmm(nComponents=n_components, fptype=fptype, maxIterations=max_iter,
                            accuracyThreshold=tol * X.shape[0],
                            covarianceStorage=storage).compute(X, init.weights, init.means,
                                                               init.covariances)
    seconds = time.perf_counter() - start
    return seconds, int(np.ravel(result.nIterations)[0])
