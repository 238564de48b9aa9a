import numpy as np

from fastgmm import GaussianMixture


def test_fit_two_blobs():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(500, 2)), rng.normal(size=(500, 2)) + 10])
    gm = GaussianMixture(2, random_state=0).fit(X)
    np.testing.assert_allclose(np.sort(gm.means_[:, 0]), [0, 10], atol=0.2)
