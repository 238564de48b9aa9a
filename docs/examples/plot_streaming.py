"""
A streaming fit with ``partial_fit``
====================================

Data that arrive in batches update the model batch by batch (stepwise EM):
each ``partial_fit`` does one pass over its batch and blends the batch's
statistics into running ones. Here 150 batches of 1,000 points from a known
mixture of eight overlapping components stream past once; the held-out
log-likelihood climbs towards that of ``fit`` on all 150,000 points at once.
The first batch initialises the model, so its start matters: compare the
default k-means start with k-means++ seeding.
"""

import matplotlib.pyplot as plt
import numpy as np

from fastgmm import GaussianMixture

rng = np.random.default_rng(0)
k, d = 8, 4
centres = rng.uniform(-4, 4, size=(k, d))


def draw(n):
    """n points from the mixture: equal weights, unit-variance clusters."""
    return centres[rng.integers(0, k, n)] + rng.standard_normal((n, d))


batches = [draw(1_000) for _ in range(150)]
X_test = draw(50_000)

# %%
# One pass over the stream for each start. ``learning_offset`` and
# ``learning_decay`` set how fast the weight of new batches falls
# (defaults 10 and 0.7).
curves = {}
for init in ["kmeans", "k-means++"]:
    stream = GaussianMixture(n_components=k, init_params=init, random_state=0)
    curves[init] = []
    for batch in batches:
        stream.partial_fit(batch)
        curves[init].append(stream.score(X_test))
    print(f"init_params={init!r}: held-out mean log-likelihood after "
          f"{stream.n_iter_} batches {curves[init][-1]:.4f}")

# %%
# The same model fitted on all the data at once, for comparison.
batch_fit = GaussianMixture(n_components=k, n_init=3, random_state=0)
batch_fit.fit(np.vstack(batches))
best = batch_fit.score(X_test)
print(f"fit on all {sum(map(len, batches)):,} points: {best:.4f}")

fig, ax = plt.subplots(figsize=(6.4, 4.2))
for init, curve in curves.items():
    ax.plot(np.arange(1, len(batches) + 1), curve, label=f"partial_fit, {init!r} start")
ax.axhline(best, color="tab:red", ls="--", label="fit on all data")
ax.set_xlabel("batches seen")
ax.set_ylabel("held-out mean log-likelihood")
ax.legend(loc="lower right")
ax.set_title("One pass over a stream of 150 batches")
fig.tight_layout()
plt.show()
