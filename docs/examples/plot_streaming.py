"""
A streaming fit with ``partial_fit``
====================================

Data that arrive in batches update the model batch by batch (stepwise EM):
each ``partial_fit`` does one pass over its batch and blends the batch's
statistics into running ones. Here 150 batches of 2,000 points from a known
six-component mixture stream past once; the held-out log-likelihood climbs
to that of ``fit`` on all 300,000 points at once.
"""

import matplotlib.pyplot as plt
import numpy as np

from fastgmm import GaussianMixture

rng = np.random.default_rng(0)
k, d = 6, 3
centres = rng.uniform(-6, 6, size=(k, d))


def draw(n):
    """n points from the mixture: equal weights, unit-variance clusters."""
    return centres[rng.integers(0, k, n)] + rng.standard_normal((n, d))


batches = [draw(2_000) for _ in range(150)]
X_test = draw(50_000)

# %%
# One pass over the stream. ``learning_offset`` and ``learning_decay`` set
# how fast the weight of new batches falls (defaults 10 and 0.7).
stream = GaussianMixture(n_components=k, random_state=0)
held_out = []
for batch in batches:
    stream.partial_fit(batch)
    held_out.append(stream.score(X_test))
print(f"after {stream.n_iter_} batches: held-out mean log-likelihood {held_out[-1]:.4f}")

# %%
# The same model fitted on all the data at once, for comparison.
batch_fit = GaussianMixture(n_components=k, n_init=3, random_state=0).fit(np.vstack(batches))
print(f"fit on all {sum(map(len, batches)):,} points: {batch_fit.score(X_test):.4f}")

fig, ax = plt.subplots(figsize=(6.4, 4.2))
ax.plot(np.arange(1, len(batches) + 1), held_out, label="partial_fit, after each batch")
ax.axhline(batch_fit.score(X_test), color="tab:red", ls="--", label="fit on all data")
ax.set_xlabel("batches seen")
ax.set_ylabel("held-out mean log-likelihood")
ax.set_ylim(held_out[-1] - 1.0, held_out[-1] + 0.2)
ax.legend(loc="lower right")
ax.set_title("One pass over a stream of 150 batches")
fig.tight_layout()
plt.show()
