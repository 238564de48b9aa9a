"""
A first fit, with ellipses
==========================

Fit a three-component Gaussian mixture to points drawn from three
elongated clusters, then draw each fitted component's mean with its 1- and
2-sigma ellipses. ``fastgmm.GaussianMixture`` takes the same parameters
and gives the same fitted attributes as ``sklearn.mixture.GaussianMixture``.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse

from fastgmm import GaussianMixture

# %%
# Data: three clusters, each a standard normal cloud stretched and turned.
rng = np.random.default_rng(0)
shapes = [np.array([[2.0, 0.0], [0.8, 0.5]]),
          np.array([[0.5, 0.0], [0.0, 1.5]]),
          np.array([[1.0, 0.7], [-0.7, 1.0]])]
centres = np.array([[0.0, 0.0], [7.0, 2.0], [2.0, 7.0]])
X = np.vstack([rng.standard_normal((1_000, 2)) @ A.T + c
               for A, c in zip(shapes, centres)])

# %%
# Fit. ``random_state`` makes the k-means initialisation reproducible; the
# model is then bitwise the same on any number of threads.
gm = GaussianMixture(n_components=3, covariance_type="full", random_state=0).fit(X)
print(f"converged: {gm.converged_} after {gm.n_iter_} iterations")
print("weights:", np.round(gm.weights_, 3))
print("means:\n", np.round(gm.means_, 2))
labels = gm.predict(X)

# %%
# Draw the points coloured by their most likely component, and each
# component's ellipses: the eigenvectors of its covariance give the axes,
# the square roots of its eigenvalues the 1-sigma half-lengths.
fig, ax = plt.subplots(figsize=(6.4, 5.6))
colors = ["tab:blue", "tab:orange", "tab:green"]
for j, color in enumerate(colors):
    ax.scatter(*X[labels == j].T, s=4, alpha=0.4, color=color)
    values, vectors = np.linalg.eigh(gm.covariances_[j])
    angle = np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1]))
    for n_sigma in (1, 2):
        width, height = 2 * n_sigma * np.sqrt(values[::-1])
        ax.add_patch(Ellipse(gm.means_[j], width, height, angle=angle, fill=False,
                             color=color, lw=2, ls="-" if n_sigma == 1 else "--"))
    ax.plot(*gm.means_[j], "x", color="black", ms=10, mew=2)
ax.set_title("3 fitted components: means, 1- and 2-sigma ellipses")
ax.set_aspect("equal")
fig.tight_layout()
plt.show()
