"""
The Bayesian mixture switches off components it does not need
=============================================================

``fastgmm.BayesianGaussianMixture`` gets an upper bound on the number of
components (here 12) and a Dirichlet-process prior on the weights. As the
variational iterations proceed, the weights of the components the data do
not need fall towards zero; five remain, one per cluster.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from fastgmm import BayesianGaussianMixture

rng = np.random.default_rng(0)
centres = np.array([[0, 0], [10, 0], [0, 10], [10, 10], [5, 5]])
X = np.vstack([rng.normal(c, 1.0, size=(2_000, 2)) for c in centres])

# %%
# Follow the weights: ``warm_start=True`` continues the previous fit, so a
# fit of 10 iterations at a time traces the same path as one long fit.
bgm = BayesianGaussianMixture(n_components=12, init_params="k-means++", max_iter=10,
                              warm_start=True, random_state=0)
history, iterations = [], []
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # each 10-iteration piece warns
    for step in range(60):
        bgm.fit(X)
        iterations.append(10 * (step + 1))
        history.append(bgm.weights_.copy())
        if bgm.converged_:
            break
history = np.array(history)
kept = bgm.weights_ > 0.01
print(f"after {iterations[-1]} iterations: {kept.sum()} of {bgm.n_components} components "
      f"keep a weight above 1%")
print("weights:", np.round(np.sort(bgm.weights_)[::-1], 3))

# %%
# Left: each component's weight over the iterations. Right: the data with
# the components that kept a weight.
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
left.plot(iterations, history)
left.set_xlabel("variational iterations")
left.set_ylabel("component weight")
left.set_yscale("log")
left.set_ylim(1e-5, 1)
left.set_title("weights of 12 components")
right.scatter(*X.T, c=bgm.predict(X), s=3, cmap="tab20", alpha=0.5)
right.plot(*bgm.means_[kept].T, "kx", ms=10, mew=2)
right.set_aspect("equal")
right.set_title(f"{kept.sum()} components kept")
fig.tight_layout()
plt.show()
