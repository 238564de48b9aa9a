"""``on_collapse='reseed'``: collapsed components re-seeded during EM instead of an error.

The default stays scikit-learn's (the same ``ValueError`` on the same data);
with the option a fit completes where a valid model exists, the re-seeds are
counted in ``n_reseeds_``, results are deterministic (runs, threads, memmap)
and nothing changes when nothing collapses.
"""

import re
import warnings

import numba
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import fastgmm
from fastgmm import BayesianGaussianMixture, GaussianMixture
from fastgmm._em.reseed import MAX_RESEEDS_PER_COMPONENT

PARAMS = ("weights_", "means_", "covariances_", "precisions_cholesky_", "lower_bound_",
          "n_iter_", "n_reseeds_")
REG_COVARS = (1e-6, 1e-4, 1e-2, 1e-1)


def _blobs(rng, n=200):
    return [rng.normal([0, 0], 1.0, size=(n, 2)), rng.normal([6, 0], 1.0, size=(n, 2)),
            rng.normal([3, 6], 1.0, size=(n, 2))]


def duplicated_rows(n=200, copies=50):
    """Two Gaussian blobs and a third 'blob' of ``copies`` identical rows."""
    rng = np.random.default_rng(0)
    a = rng.normal([0, 0], 1.0, size=(n, 2))
    b = rng.normal([8, 0], 1.0, size=(n, 2))
    return np.vstack([a, b, np.tile([[4.0, 7.0]], (copies, 1))])


def group_constant_column():
    """Three blobs and a one-hot column: 1 on the third blob's rows, 0 elsewhere."""
    X = np.vstack(_blobs(np.random.default_rng(0)))
    return np.c_[X, np.r_[np.zeros(400), np.ones(200)]]


def zero_column():
    """Three blobs and a column of zeros (constant over all rows)."""
    return np.c_[np.vstack(_blobs(np.random.default_rng(0))), np.zeros(600)]


def _fit(X, **kwargs):
    return _fit_seed(X, 0, **kwargs)


def _fit_seed(X, seed, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(random_state=seed, **kwargs).fit(X)


def _best_complete_bound(X, **kwargs):
    """The largest lower bound of default fits over ``REG_COVARS`` that complete."""
    bounds = {}
    for reg in REG_COVARS:
        try:
            bounds[reg] = _fit(X, reg_covar=reg, **kwargs).lower_bound_
        except ValueError:
            pass
    return bounds


def _assert_positive_definite(gm):
    for cov in np.reshape(gm.covariances_, (-1,) + np.shape(gm.covariances_)[-2:]):
        np.linalg.cholesky(cov)
    assert np.all(np.isfinite(gm.precisions_cholesky_))
    assert abs(gm.weights_.sum() - 1.0) < 1e-12


def _same_bits(a, b):
    for name in PARAMS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.parametrize("make, k", [(duplicated_rows, 3), (group_constant_column, 2),
                                     (group_constant_column, 3), (zero_column, 3)])
def test_default_raises_scikit_learns_error(make, k):
    X = make()
    with pytest.raises(ValueError) as sklearn_error:
        SkGaussianMixture(k, reg_covar=0, random_state=0).fit(X)
    with pytest.raises(ValueError, match="ill-defined empirical covariance") as ours:
        GaussianMixture(k, reg_covar=0, random_state=0).fit(X)
    assert str(ours.value) == str(sklearn_error.value)


def test_collapse_of_the_initialisation_reseeded_beats_reg_covar():
    """k-means++ seeds single rows, so with reg_covar=0 every initial
    covariance is 0: scikit-learn and the default raise; re-seeded, the fit
    converges to the three blobs without reg_covar's bias, above every
    reg_covar large enough to bias it (and level with the smallest)."""
    X = np.vstack(_blobs(np.random.default_rng(0)))
    kwargs = dict(n_components=3, init_params="k-means++")
    with pytest.raises(ValueError) as sklearn_error:
        SkGaussianMixture(reg_covar=0, random_state=0, **kwargs).fit(X)
    with pytest.raises(ValueError) as ours:
        GaussianMixture(reg_covar=0, random_state=0, **kwargs).fit(X)
    assert str(ours.value) == str(sklearn_error.value)
    gm = _fit(X, reg_covar=0, on_collapse="reseed", **kwargs)
    np.testing.assert_array_equal(gm.n_reseeds_, [3])
    assert gm.converged_
    _assert_positive_definite(gm)
    np.testing.assert_allclose(np.sort(gm.means_[:, 0]), [0, 3, 6], atol=0.3)
    bounds = _best_complete_bound(X, **kwargs)
    assert sorted(bounds) == list(REG_COVARS)
    # Above every reg_covar large enough to bias the fit visibly; with the
    # smallest ones the optimum is the same to about reg_covar itself, and
    # which of the two nearby optima a start reaches turns on the seeds
    # (scikit-learn's k-means++ draws here: 6e-6 below reg_covar=1e-6).
    assert gm.lower_bound_ > max(b for r, b in bounds.items() if r >= 1e-2)
    assert gm.lower_bound_ > max(bounds.values()) - 1e-5
    gm = _fit(X, reg_covar=0, on_collapse="reseed", max_iter=0, **kwargs)
    np.testing.assert_array_equal(gm.n_reseeds_, [3])
    _assert_positive_definite(gm)


def test_duplicated_rows_reseed_completes_then_reaches_the_cap():
    X = duplicated_rows()
    gm = _fit(X, n_components=3, reg_covar=0, on_collapse="reseed")
    assert gm.n_reseeds_.shape == (1,) and 0 < gm.n_reseeds_[0] < 30
    assert not gm.converged_
    _assert_positive_definite(gm)
    assert np.isfinite(gm.lower_bound_)
    # No component can sit on the 50 copies without reg_covar, and each one
    # that comes near them shrinks onto them again: a tuned reg_covar keeps
    # one there at variance reg_covar, whose density 1 / (2 pi reg_covar)
    # per copy outscores any valid model (docs/user_guide/degenerate_data.md).
    bounds = _best_complete_bound(X, n_components=3)
    assert sorted(bounds) == list(REG_COVARS)
    assert gm.lower_bound_ < min(bounds.values())
    assert list(bounds.values()) == sorted(bounds.values(), reverse=True)
    with pytest.raises(ValueError, match="components in this initialisation") as error:
        _fit(X, n_components=3, reg_covar=0, on_collapse="reseed", max_iter=1000)
    _assert_cap_error(str(error.value), n_components=3)


def _assert_cap_error(message, n_components):
    """The cap error of ``n_components`` components: raised when the collapses
    of one M-step would take the count past the cap, so with anywhere from
    cap - n_components + 1 to cap re-seeds done (which of these turns on
    rounding: 30 on an AVX2 core, 29 on an AVX-512 one were seen)."""
    assert message.startswith(fastgmm._model.gaussian.SINGULAR_MESSAGE)
    assert f"the most it does ({MAX_RESEEDS_PER_COMPONENT} per component)" in message
    cap = MAX_RESEEDS_PER_COMPONENT * n_components
    count = int(re.search(r"re-seeded (\d+) components in this initialisation",
                          message).group(1))
    assert cap - n_components < count <= cap


def test_group_constant_column_reseed_converges_or_stops_at_the_cap():
    """Which component collapses onto the constant column, and how often, turns
    on last-bit rounding, so on the CPU's vector width (random_state=0 converged
    on an AVX2 core and reached the cap on an AVX-512 one), and so does the
    number of seeds that converge. What holds for every seed on every CPU: the
    fit converges to a positive-definite model whose bound beats the largest
    reg_covar but not the smaller ones (docs/user_guide/degenerate_data.md), or it raises the documented
    cap error."""
    X = group_constant_column()
    bounds = _best_complete_bound(X, n_components=2)
    assert sorted(bounds) == list(REG_COVARS)
    for seed in range(8):
        try:
            gm = _fit_seed(X, seed, n_components=2, reg_covar=0, on_collapse="reseed")
        except ValueError as error:
            _assert_cap_error(str(error), n_components=2)
            continue
        assert gm.n_reseeds_[0] > 0 and gm.converged_, seed
        _assert_positive_definite(gm)
        # Converged bounds seen: -3.912 to -3.907 (AVX2 and AVX-512), against
        # -3.968 and -2.813 for reg_covar 1e-1 and 1e-2: far from rounding.
        assert bounds[1e-1] < gm.lower_bound_ < bounds[1e-2], seed


def test_cap_raises_the_usual_error():
    """Three blobs, three components: one of them keeps collapsing onto the
    third blob's constant column, up to the cap, then fit raises."""
    X = group_constant_column()
    with pytest.raises(ValueError, match="ill-defined empirical covariance") as error:
        GaussianMixture(3, reg_covar=0, random_state=0, on_collapse="reseed").fit(X)
    _assert_cap_error(str(error.value), n_components=3)


def test_constant_column_cannot_be_helped():
    X = zero_column()
    with pytest.raises(ValueError, match="the covariance of the data themselves is "
                       "ill-defined"):
        GaussianMixture(3, reg_covar=0, random_state=0, on_collapse="reseed").fit(X)
    # reg_covar makes it well-defined, and then nothing collapses.
    gm = _fit(X, n_components=3, on_collapse="reseed")
    np.testing.assert_array_equal(gm.n_reseeds_, [0])


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_well_behaved_data_bitwise_unchanged(covariance_type):
    X = np.vstack(_blobs(np.random.default_rng(1)))
    kwargs = dict(n_components=3, covariance_type=covariance_type, n_init=2,
                  init_params="k-means++")
    off = _fit(X, **kwargs)
    on = _fit(X, on_collapse="reseed", reseed_min_weight=0.01, **kwargs)
    _same_bits(off, on)
    np.testing.assert_array_equal(on.n_reseeds_, [0, 0])


def test_reseed_resets_the_convergence_test():
    X = duplicated_rows()
    gm = GaussianMixture(3, reg_covar=0, random_state=0, on_collapse="reseed", max_iter=20)
    changes = []
    with warnings.catch_warnings(), fastgmm.on_iteration(lambda e: changes.append(e.change)):
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X)
    # The first pass and each pass after a re-seed compare with no bound.
    assert np.isinf(changes[0]) and np.sum(np.isinf(changes[1:])) >= 1


def _large_duplicated(tmp_path=None):
    rng = np.random.default_rng(2)
    X = np.vstack([rng.normal([0, 0], 1.0, size=(6000, 2)),
                   rng.normal([8, 0], 1.0, size=(6000, 2)),
                   np.tile([[4.0, 7.0]], (3000, 1))])
    return X[rng.permutation(len(X))]


REPRO = dict(n_components=3, reg_covar=0, on_collapse="reseed", max_iter=25, n_init=2)


def test_deterministic_runs_and_memmap(tmp_path):
    X = _large_duplicated()
    first = _fit(X, **REPRO)
    assert first.n_reseeds_.sum() > 0
    _same_bits(first, _fit(X, **REPRO))
    path = tmp_path / "x.f64"
    mm = np.memmap(path, dtype=np.float64, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    _same_bits(first, _fit(np.memmap(path, dtype=np.float64, mode="r", shape=X.shape),
                           **REPRO))


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
def test_same_bits_for_one_and_two_threads():
    X = _large_duplicated()
    before = numba.get_num_threads()
    fits = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            fits.append(_fit(X, **REPRO))
    finally:
        numba.set_num_threads(before)
    assert fits[0].n_reseeds_.sum() > 0
    _same_bits(*fits)


def test_sample_weight_zero_rows_are_never_drawn():
    X = duplicated_rows()
    far = np.array([[100.0, 100.0]] * 5)
    w = np.r_[np.ones(len(X)), np.zeros(5)]
    gm = GaussianMixture(3, reg_covar=0, on_collapse="reseed", max_iter=0,
                         init_params="k-means++", random_state=0)
    gm.fit(np.vstack([X, far]), sample_weight=w)
    assert gm.n_reseeds_[0] == 3
    assert np.all(np.abs(gm.means_) < 50)


@pytest.mark.parametrize("kwargs, message", [
    (dict(on_collapse="retry"),
     r"The 'on_collapse' parameter of GaussianMixture must be a str among "
     r"\{.*'raise'.*\}. Got 'retry' instead."),
    (dict(on_collapse="reseed", reseed_min_weight=1.0),
     r"The 'reseed_min_weight' parameter of GaussianMixture must be a float in the "
     r"range \[0.0, 1.0\). Got 1.0 instead."),
    (dict(reseed_min_weight=0.05),
     r"reseed_min_weight=0.05 has no effect with on_collapse='raise': set "
     r"on_collapse='reseed'"),
])
def test_parameter_validation(kwargs, message):
    X = np.vstack(_blobs(np.random.default_rng(0)))
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, **kwargs).fit(X)


def test_clone_get_params_and_model_file(tmp_path):
    gm = GaussianMixture(3, reg_covar=0, on_collapse="reseed", reseed_min_weight=0.02,
                         random_state=0)
    params = gm.get_params()
    assert params["on_collapse"] == "reseed" and params["reseed_min_weight"] == 0.02
    twin = clone(gm)
    assert twin.get_params() == params
    assert GaussianMixture().set_params(on_collapse="reseed").on_collapse == "reseed"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(duplicated_rows())
    path = tmp_path / "model.npz"
    gm.save(path)
    loaded = fastgmm.load(path)
    np.testing.assert_array_equal(loaded.n_reseeds_, gm.n_reseeds_)
    assert loaded.get_params() == params
    np.testing.assert_array_equal(loaded.predict(duplicated_rows()),
                                  gm.predict(duplicated_rows()))
    # A model without the attribute (older files, fit_many) saves and loads without it.
    del gm.n_reseeds_
    gm.save(path)
    assert not hasattr(fastgmm.load(path), "n_reseeds_")


def test_bayesian_mixture_has_no_reseeding():
    """Its Wishart prior keeps every covariance positive-definite: nothing collapses."""
    assert "on_collapse" not in BayesianGaussianMixture().get_params()
    with pytest.raises(TypeError):
        BayesianGaussianMixture(on_collapse="reseed")
    bgm = BayesianGaussianMixture(n_components=3, reg_covar=0, random_state=0,
                                  max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bgm.fit(duplicated_rows())
    assert not hasattr(bgm, "n_reseeds_")


def test_dask_array_reseeds_over_its_chunks():
    """The draw races over the Dask chunks (other random numbers than in memory)."""
    da = pytest.importorskip("dask.array")
    X = np.vstack(_blobs(np.random.default_rng(0)))
    kwargs = dict(n_components=3, reg_covar=0, init_params="k-means++",
                  on_collapse="reseed", random_state=0)
    gm = GaussianMixture(**kwargs).fit(da.from_array(X, chunks=(150, 2)))
    assert gm.n_reseeds_[0] == 3 and gm.converged_
    _assert_positive_definite(gm)
    np.testing.assert_allclose(np.sort(gm.means_[:, 0]), [0, 3, 6], atol=0.3)
    again = GaussianMixture(**kwargs).fit(da.from_array(X, chunks=(150, 2)))
    _same_bits(gm, again)


def test_command_line_reseed(tmp_path, capsys):
    from fastgmm import cli

    data, model = tmp_path / "x.npy", tmp_path / "m.npz"
    np.save(data, np.vstack(_blobs(np.random.default_rng(0))))
    base = ["fit", str(data), "-k", "3", "--reg-covar", "0", "--init-params", "k-means++",
            "-q", "-o", str(model)]
    assert cli.main(base) == 2
    assert "ill-defined empirical covariance" in capsys.readouterr().err
    assert cli.main(base + ["--reseed"]) == 0
    assert "re-seeded collapsed components: 3 times" in capsys.readouterr().out
    np.testing.assert_array_equal(fastgmm.load(model).n_reseeds_, [3])
    assert cli.main(base + ["--reseed", "--bayesian"]) == 2
    assert "--reseed re-seeds collapsed components" in capsys.readouterr().err


def test_far_row_draws_proportionally_to_weighted_squared_distance():
    """The race over blocks (here of 2 rows) is k-means++'s D^2 draw."""
    from fastgmm._data.source import RowPartitions
    from fastgmm._init.scalable import far_row

    X = np.array([[0.0], [1.0], [2.0], [3.0], [5.0]])
    w = np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    blocks = RowPartitions(X, w, partition_rows=2)
    center = np.zeros((1, 1))
    drawn = np.array([far_row(blocks, center, 7, draw)[0] for draw in range(4000)])
    assert not np.isin(drawn, [0, 4]).any()  # on the centre, or no weight
    expected = np.array([1.0, 4.0, 9.0]) / 14.0 * len(drawn)
    counts = np.array([np.sum(drawn == i) for i in (1, 2, 3)])
    assert np.all(np.abs(counts - expected) < 4 * np.sqrt(expected))
    # A draw is a function of (seed, draw index) alone, not of the draws before
    # it, and another seed gives other draws.
    np.testing.assert_array_equal(
        [far_row(RowPartitions(X, w, partition_rows=2), center, 7, draw)[0]
         for draw in range(3999, 3899, -1)], drawn[3999:3899:-1])
    other = np.array([far_row(blocks, center, 8, draw)[0] for draw in range(100)])
    assert np.any(other != drawn[:100])
    assert far_row(RowPartitions(X[:1], None), center, 7, 0) is None
