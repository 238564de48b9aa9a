"""
Choosing the number of components by BIC
========================================

``fastgmm.select`` fits every candidate number of components for each
covariance type and keeps the model with the lowest Bayesian information
criterion (BIC). Here the data come from four components; BIC finds them.
"""

import matplotlib.pyplot as plt
import numpy as np

import fastgmm

rng = np.random.default_rng(1)
centres = np.array([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0], [5.0, 5.0]])
scales = np.array([[1.0, 0.4], [0.5, 1.0], [0.8, 0.8], [1.2, 0.3]])
X = np.vstack([rng.normal(c, s, size=(1_500, 2)) for c, s in zip(centres, scales)])

best, table = fastgmm.select(X, n_components=range(1, 9),
                             covariance_types=["full", "diag", "spherical", "tied"],
                             criterion="bic", random_state=0)
print(f"best by BIC: {best.n_components} components, "
      f"covariance_type={best.covariance_type!r}")

# %%
# Every row of the table is a ``Candidate``: its scores, iterations and fit
# time. Plot BIC against the number of components, one line per type.
fig, ax = plt.subplots(figsize=(6.4, 4.2))
# (The clusters are axis-aligned, so "full" and "diag" score almost alike and
# their lines overlap.)
for cov, style in [("full", "o-"), ("diag", "s--"), ("spherical", "^-"), ("tied", "v-")]:
    rows = [r for r in table if r.covariance_type == cov]
    ax.plot([r.n_components for r in rows], [r.bic for r in rows], style, label=cov)
ax.plot(best.n_components, min(r.bic for r in table), "k*", ms=16, label="lowest BIC")
ax.set_xlabel("number of components")
ax.set_ylabel("BIC (lower is better)")
ax.legend()
ax.set_title("BIC of every candidate")
fig.tight_layout()

# %%
# The selected model on the data.
fig, ax = plt.subplots(figsize=(5.2, 5.2))
ax.scatter(*X.T, c=best.predict(X), s=3, cmap="tab10", alpha=0.5)
ax.plot(*best.means_.T, "kx", ms=10, mew=2)
ax.set_aspect("equal")
ax.set_title(f"best model: {best.n_components} {best.covariance_type} components")
fig.tight_layout()
plt.show()
