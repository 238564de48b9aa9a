"""Faults and hostile input: no crash, no silent wrong answer.

- Fitted attributes, generic over attributes: every fitted attribute of a
  fitted mixture (each class, covariance type and prior type) is corrupted
  in every way that applies to it, and every method that reads fitted
  attributes must raise a ``ValueError`` naming that attribute.
- ``partial_fit`` streams never mix covariance types or component counts.
- Every path into ``fit_many`` gives ``fit``'s exception and message.
- Points far away: ``-inf`` log-densities and responsibilities that sum to 1.
- Threads on one estimator, and ``select``'s candidates.
- ``save`` to a target that is not a regular file (a FIFO, a directory, a
  socket) never replaces it with a file.

Failed calls are in ``test_failed_calls.py``, model files in
``test_load_faults.py``, the kernel cache in ``test_cache_faults.py``.
"""

import copy
import errno
import os
import socket
import stat
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastgmm
from fastgmm import BayesianGaussianMixture, GaussianMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def _data():
    rng = np.random.default_rng(0)
    return np.r_[rng.normal(0, 1, (200, 3)), rng.normal(6, 1, (200, 3))]


def _fitted(cls, covariance_type, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if cls is GaussianMixture:
            return GaussianMixture(2, covariance_type=covariance_type, random_state=0,
                                   **kwargs).fit(_data())
        return BayesianGaussianMixture(n_components=2, covariance_type=covariance_type,
                                       random_state=0, max_iter=20, **kwargs).fit(_data())


# ------------------------------------------------------------- corruptions
def _array_corruptions(a):
    """Ways to break an array attribute (each a new value, the original untouched)."""
    a = np.asarray(a)
    out = {}
    if a.ndim >= 1:
        out["extra row"] = np.concatenate([a, a[:1]])
        out["missing row"] = a[:-1]
    out["wrong ndim"] = a[None]
    if a.ndim >= 1:
        out["one less ndim"] = a[0]
    nan = a.astype(np.float64).copy()
    nan.flat[nan.size // 2] = np.nan
    out["NaN"] = nan
    out["int dtype"] = np.rint(a).astype(np.int64)
    out["complex dtype"] = a.astype(np.complex128)
    out["object dtype"] = a.astype(object)
    out["bool dtype"] = a.astype(bool)
    out["string"] = "banana"
    return out


def _scalar_corruptions(value):
    return {"NaN": float("nan"), "string": "banana", "array": np.array([value, value]),
            "None": None, "negative": -3}


def _corruptions(name, value):
    if name == "weight_concentration_" and isinstance(value, tuple):
        first, second = value
        return {f"{what} (first of the pair)": (bad, second)
                for what, bad in _array_corruptions(first).items()
                if what != "string"} | {"not a pair": first}
    if name == "lower_bounds_":
        return {"NaN entry": [float("nan")] * 2, "string": "banana", "2-D": [[1.0]],
                "object entry": [object()]}
    if name == "n_features_in_":
        return {"other int": value + 1, "float": value + 0.5, "string": "3",
                "zero": 0, "bool": True}
    if name == "converged_":
        return {"string": "yes", "None": None, "float": 0.5}
    if name == "n_reseeds_":
        return {"float": value.astype(np.float64), "negative": value - 5,
                "2-D": value[None], "list": list(value)}
    if name == "feature_names_in_":
        return {"too long": np.r_[value, ["extra"]].astype(object), "list": list(value),
                "numbers": np.arange(len(value)).astype(object)}
    if isinstance(value, np.ndarray) and value.ndim > 0 or name in (
            "covariance_prior_", "degrees_of_freedom_"):
        return _array_corruptions(value)
    if name == "n_iter_":
        return {"NaN": float("nan"), "string": "banana", "negative": -1, "float": 2.5}
    if name == "lower_bound_":
        return {"NaN": float("nan"), "string": "banana", "array": np.array([value, value]),
                "None": None, "+inf": float("inf")}
    return _scalar_corruptions(value)


def _methods(est, X, path):
    """Every public method that reads fitted attributes, as a zero-argument call.

    ``save`` writes to ``path``, a file in the test's temporary directory.
    """
    methods = {
        "predict": lambda: est.predict(X),
        "predict_proba": lambda: est.predict_proba(X),
        "score_samples": lambda: est.score_samples(X),
        "score": lambda: est.score(X),
        "sample": lambda: est.sample(5),
        "save": lambda: est.save(path),
        "warm start fit": lambda: est.set_params(warm_start=True, max_iter=1).fit(X),
    }
    if isinstance(est, GaussianMixture):
        methods["bic"] = lambda: est.bic(X)
        methods["aic"] = lambda: est.aic(X)
    return methods


def _fitted_attributes(est):
    return [name for name in vars(est) if name.endswith("_") and not name.startswith("_")]


CASES = ([(GaussianMixture, cov, {}) for cov in COVARIANCE_TYPES]
         + [(BayesianGaussianMixture, cov, {"weight_concentration_prior_type": prior})
            for cov in COVARIANCE_TYPES
            for prior in ("dirichlet_process", "dirichlet_distribution")])


@pytest.mark.parametrize("cls, covariance_type, kwargs", CASES,
                         ids=[f"{c.__name__}-{t}-{k}" for c, t, k in CASES])
def test_every_corrupted_fitted_attribute_is_named_by_every_method(cls, covariance_type,
                                                                    kwargs, tmp_path):
    X = _data()
    clean = _fitted(cls, covariance_type, **kwargs)
    clean.feature_names_in_ = np.array(["a", "b", "c"], dtype=object)
    attributes = _fitted_attributes(clean)
    assert {"weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
            "n_features_in_", "lower_bound_"} <= set(attributes)
    failures = []
    for name in attributes:
        for what, bad in _corruptions(name, getattr(clean, name)).items():
            for method in _methods(clean, X, tmp_path / "model.npz"):
                est = copy.copy(clean)  # attributes are replaced, never changed in place
                setattr(est, name, bad)
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        _methods(est, X, tmp_path / "model.npz")[method]()
                except ValueError as exc:
                    if name not in str(exc):
                        failures.append(f"{name} ({what}) {method}: ValueError not "
                                        f"naming it: {exc}")
                except Exception as exc:  # noqa: BLE001 - any other error is the bug
                    failures.append(f"{name} ({what}) {method}: {type(exc).__name__}: {exc}")
                else:
                    failures.append(f"{name} ({what}) {method}: no error")
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:40])


def test_the_clean_models_pass_every_method(tmp_path):
    """The check refuses nothing a fit produces (float32 and float64, all types)."""
    for cls, covariance_type, kwargs in CASES:
        for dtype in (np.float64, np.float32):
            X = _data().astype(dtype)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est = (GaussianMixture(2, covariance_type=covariance_type, random_state=0)
                       if cls is GaussianMixture else
                       BayesianGaussianMixture(n_components=2, random_state=0, max_iter=20,
                                               covariance_type=covariance_type, **kwargs))
                est.fit(X)
                for method in _methods(est, X, tmp_path / "model.npz").values():
                    method()


def test_a_changed_covariance_type_with_coinciding_shapes_is_refused():
    """k == d: 'tied' and 'diag' precisions have the same shape, (d, d)."""
    X = _data()[:, :2]
    gm = GaussianMixture(2, covariance_type="tied", random_state=0).fit(X)
    gm.set_params(covariance_type="diag")
    with pytest.raises(ValueError, match="changed after fit"):
        gm.predict(X)
    gm = GaussianMixture(2, covariance_type="diag", random_state=0).fit(X)
    gm.set_params(covariance_type="tied")
    with pytest.raises(ValueError, match="changed after fit"):
        gm.predict(X)


def test_many_extra_rows_of_means_do_not_crash():
    """Used to be a segmentation fault: run in a child so a crash fails one test only."""
    code = """
import numpy as np
from fastgmm import GaussianMixture
rng = np.random.default_rng(0)
X = np.r_[rng.normal(0, 1, (200, 3)), rng.normal(6, 1, (200, 3))]
m = GaussianMixture(2, random_state=0).fit(X)
m.means_ = np.r_[m.means_, np.zeros((100000, 3))]
for call in (m.predict_proba, m.predict, m.score_samples):
    try:
        call(X)
    except ValueError as exc:
        assert "means_" in str(exc), exc
    else:
        raise SystemExit("no error")
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert result.stdout.strip() == "ok"


# ------------------------------------------------------ partial_fit streams
@pytest.mark.parametrize("started", COVARIANCE_TYPES)
@pytest.mark.parametrize("changed", COVARIANCE_TYPES)
def test_a_stream_never_mixes_covariance_types(started, changed):
    """k == d, so 'tied' and 'diag' arrays coincide in shape: still refused."""
    if started == changed:
        return
    X = _data()[:, :2]
    gm = GaussianMixture(2, covariance_type=started, random_state=0)
    gm.partial_fit(X[:200])
    gm.set_params(covariance_type=changed)
    with pytest.raises(ValueError, match=f"stream started with covariance_type='{started}', "
                                         f"which does not match covariance_type='{changed}'"):
        gm.partial_fit(X[200:])
    # Set back, the stream continues as if nothing had happened.
    gm.set_params(covariance_type=started)
    gm.partial_fit(X[200:])
    clean = GaussianMixture(2, covariance_type=started, random_state=0)
    clean.partial_fit(X[:200]).partial_fit(X[200:])
    assert gm.n_iter_ == clean.n_iter_ == 2
    assert gm.means_.tobytes() == clean.means_.tobytes()


def test_a_stream_never_mixes_component_counts_or_features():
    X = _data()
    gm = GaussianMixture(2, random_state=0).partial_fit(X[:200])
    gm.set_params(n_components=3)
    with pytest.raises(ValueError, match="stream started with n_components=2"):
        gm.partial_fit(X[200:])
    gm.set_params(n_components=2)
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is "
                                         "expecting 3 features"):
        gm.partial_fit(X[200:, :2])
    assert gm.partial_fit(X[200:]).n_iter_ == 2


@pytest.mark.parametrize("name", ["weights_", "means_", "covariances_", "precisions_",
                                  "precisions_cholesky_"])
def test_replacing_any_fitted_array_starts_a_new_stream(name):
    """The stream continues from its own float64 parameters only while the
    fitted arrays are the ones it set; a replaced one is the new start."""
    X = _data()
    gm = GaussianMixture(2, random_state=0).partial_fit(X[:200])
    setattr(gm, name, getattr(gm, name).copy())
    gm.partial_fit(X[200:])
    assert gm.n_iter_ == 1


# ---------------------------------------------------------------- fit_many
def _bad_datasets():
    """Data sets ``fit`` refuses (name -> X), each of 10 x 3 where a shape allows."""
    X = _data()[:10]
    nan, inf = X.copy(), X.copy()
    nan[2, 1], inf[4, 0] = np.nan, -np.inf
    return {
        "one row": X[:1], "no rows": X[:0], "no features": np.zeros((10, 0)),
        "complex": X + 1j, "NaN": nan, "inf": inf, "strings": np.full((10, 3), "a"),
        "fewer rows than components": X[:2], "object with None": np.full((10, 3), None),
        "1-D": X[:, 0], "3-D": X[None],
    }


def _fit_error(X, k=3):
    try:
        GaussianMixture(k, random_state=0).fit(X)
    except (ValueError, TypeError) as exc:
        return type(exc), str(exc)
    raise AssertionError("fit accepted it")


@pytest.mark.parametrize("name", list(_bad_datasets()))
def test_every_path_into_fit_many_applies_fits_checks_and_messages(name):
    """A list of arrays, a list of lists and a 3-D array: fit's exception and text."""
    X = _bad_datasets()[name]
    good = _data()[:10]
    paths = {"list": ([good, X], 1, X)}
    if np.ndim(X) == 2:
        paths["list of lists"] = ([good.tolist(), X.tolist()], 1, X.tolist())
        paths["3-D array"] = (np.stack([X, X]), 0, X)  # every slice is the bad one
    for path, (datasets, index, as_fit_sees_it) in paths.items():
        error_type, message = _fit_error(as_fit_sees_it)
        with pytest.raises(error_type) as info:
            fastgmm.fit_many(datasets, 3, random_state=0)
        assert str(info.value) == f"datasets[{index}]: {message}", path


@pytest.mark.parametrize("dtype", [np.int64, np.float16, bool])
def test_fit_many_accepts_what_fit_accepts(dtype):
    X = (_data() * 3).astype(dtype)
    models = fastgmm.fit_many(np.stack([X, X]), 2, random_state=0)
    single = GaussianMixture(2, random_state=0).fit(X)
    assert all(m.means_.dtype == single.means_.dtype for m in models)
    assert all(m.n_features_in_ == 3 for m in models)


# -------------------------------------------------------- points far away
def _two_components(covariance_type):
    """Means 0 and 5 on the first axis; component 1 is wider (not for 'tied')."""
    X = np.r_[np.random.default_rng(1).normal(0, 1, (300, 2)),
              np.random.default_rng(2).normal(0, 2, (300, 2)) + [5, 0]]
    if covariance_type == "tied":
        X[300:] = (X[300:] - [5, 0]) / 2 + [5, 0]
    return GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_points_far_away_score_minus_inf_and_have_a_distribution(covariance_type, dtype):
    """Used to give NaN; scikit-learn's score_samples gives -inf there."""
    gm = _two_components(covariance_type)
    big = 1e200 if dtype == np.float64 else 1e30
    far = np.array([[big, 0], [-big, 0], [big, big], [-big, -big / 3], [1e7, 0],
                    [-1e7, 0], [3, 1]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid-value warning either
        log_prob = gm.score_samples(far)
        proba = gm.predict_proba(far)
        labels = gm.predict(far)
    assert not np.isnan(log_prob).any() and not np.isnan(proba).any()
    assert np.all(log_prob[:4] == -np.inf)
    assert np.all(np.isfinite(log_prob[4:]))
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_array_equal(labels, proba.argmax(axis=1))
    # Far along the first axis: the wider component ('tied': the mean that
    # lies that way) takes everything.
    right = int(np.argmax(gm.means_[:, 0]))  # the mean at 5, the wider one
    if covariance_type == "tied":
        expected = [right, 1 - right]
    else:
        expected = [right, right]
    assert labels[:2].tolist() == expected and labels[4:6].tolist() == expected
    assert np.all(proba[:2].max(axis=1) == 1)


def test_far_rows_keep_the_kernels_answer_where_it_is_exact():
    """Rows near the data are the kernel's; far rows agree with the limit."""
    gm = _two_components("full")
    X = np.random.default_rng(3).normal(0, 3, (500, 2))
    before = gm.predict_proba(X)
    mixed = gm.predict_proba(np.r_[X, [[1e200, 0]]])
    assert mixed[:500].tobytes() == before.tobytes()
    # Half-way out, the kernel is still exact and already one-hot.
    moderate = gm.predict_proba(np.array([[1e5, 0.0]]))
    np.testing.assert_array_equal(moderate, mixed[500:])


# ------------------------------------------------------------------ threads
def test_partial_fit_from_two_threads_applies_every_batch(monkeypatch):
    """A per-estimator lock serialises the calls: no lost update, no overlap."""
    import threading
    import time

    from fastgmm._em import stream as _stream

    X = _data()
    inside, most = [0], [0]
    step = _stream.stream_step

    def slow_step(*args, **kwargs):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        time.sleep(0.005)  # lets the other thread run, if nothing stops it
        try:
            return step(*args, **kwargs)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(_stream, "stream_step", slow_step)
    gm = GaussianMixture(2, random_state=0).partial_fit(X)
    calls = 30

    def feed():
        for _ in range(calls):
            gm.partial_fit(X[:50])

    threads = [threading.Thread(target=feed) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1
    assert gm.n_iter_ == 1 + 2 * calls
    assert len(gm.lower_bounds_) == 1 + 2 * calls


def test_the_lock_is_not_pickled_or_cloned():
    import pickle

    from sklearn.base import clone

    from fastgmm._em.atomic import estimator_lock

    gm = GaussianMixture(2, random_state=0).fit(_data())
    lock = estimator_lock(gm)
    assert not any(isinstance(v, type(lock)) for v in vars(gm).values())
    copied = pickle.loads(pickle.dumps(gm))
    assert estimator_lock(copied) is not lock and estimator_lock(clone(gm)) is not lock
    assert estimator_lock(gm) is lock


# ------------------------------------------------------------------- select
@pytest.mark.parametrize("candidates", [[1, 2.7], [2.0], [True, 2], ["2"], [np.float64(3)]])
def test_select_refuses_non_integer_candidates(candidates):
    """Used to fit k = int(2.7) = 2, where GaussianMixture(2.7) raises."""
    with pytest.raises(ValueError, match="n_components must be a non-empty list of "
                                         r"integers >= 1, got \["):
        fastgmm.select(_data(), candidates, random_state=0)


def test_select_accepts_numpy_integers():
    best, table = fastgmm.select(_data(), np.array([1, 2]), random_state=0)
    assert [c.n_components for c in table] == [1, 2] and best.n_components == 2


@pytest.mark.parametrize("change", [{"covariance_type": "banana"}, {"n_components": 0},
                                    {"n_components": "x"}, {"n_components": 2.5}])
def test_invalid_parameters_set_after_fit_are_reported_not_crashed_on(change):
    X = _data()
    gm = GaussianMixture(2, random_state=0).fit(X)
    gm.set_params(**change)
    for call in (gm.predict, gm.score_samples):
        with pytest.raises(ValueError, match="these parameters were changed after fit"):
            call(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_a_model_built_by_hand_for_inference_needs_only_what_inference_reads(covariance_type,
                                                                             tmp_path):
    """weights_, means_, covariances_ and precisions_cholesky_ (no scalars,
    no precisions_, no n_features_in_); save still wants everything."""
    X = _data()
    fitted = GaussianMixture(2, covariance_type=covariance_type, random_state=0).fit(X)
    gm = GaussianMixture(2, covariance_type=covariance_type)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        setattr(gm, name, getattr(fitted, name))
    assert gm.predict_proba(X).tobytes() == fitted.predict_proba(X).tobytes()
    gm.sample(3)
    with pytest.raises(ValueError, match="is missing"):
        gm.save(tmp_path / "model.npz")


# ------------------------------------------------------- save's targets
def test_save_writes_through_a_fifo_and_leaves_it_a_fifo(tmp_path):
    """A FIFO (like the ``/dev/fd/N`` of a shell's process substitution, or a
    device such as ``os.devnull``) is written directly, never renamed over."""
    gm = _fitted(GaussianMixture, "full")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []

    def read():  # opening blocks until save opens the other end
        with open(fifo, "rb") as f:
            received.append(f.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    saved = False
    try:
        gm.save(fifo)
        saved = True
    finally:
        # Only a failed save can leave the reader waiting for a writer; after
        # a save the reader may still be draining the pipe or may already have
        # closed it (its timing, not the test's), so it is left alone then.
        if not saved and reader.is_alive() and stat.S_ISFIFO(os.stat(fifo).st_mode):
            try:
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError as error:  # ENXIO: the reader is gone already
                if error.errno != errno.ENXIO:
                    raise
        reader.join(timeout=60)  # a safety net, not a measurement
    assert stat.S_ISFIFO(os.stat(fifo).st_mode), "the FIFO was replaced by a file"
    assert not reader.is_alive() and len(received) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]  # no temporary left
    copy_path = tmp_path / "copy.npz"
    copy_path.write_bytes(received[0])
    X = _data()
    assert fastgmm.load(copy_path).predict_proba(X).tobytes() == gm.predict_proba(X).tobytes()


def test_save_to_a_directory_is_a_clear_error(tmp_path):
    gm = _fitted(GaussianMixture, "diag")
    target = tmp_path / "models"
    target.mkdir()
    with pytest.raises(IsADirectoryError, match="directory") as error:
        gm.save(target)
    assert str(target) in str(error.value)
    assert target.is_dir() and list(target.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]


def test_save_to_a_socket_is_a_clear_error_and_leaves_it(tmp_path):
    gm = _fitted(GaussianMixture, "spherical")
    path = tmp_path / "sock"
    if len(os.fsencode(path)) >= 100:  # AF_UNIX paths are short
        pytest.skip("temporary directory path too long for a Unix socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(os.fspath(path))
        with pytest.raises(OSError, match="neither a regular file") as error:
            gm.save(path)
        assert str(path) in str(error.value)
        assert stat.S_ISSOCK(os.stat(path).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sock"]


def test_save_over_a_regular_file_still_replaces_it_atomically(tmp_path):
    """The usual case is unchanged: a new file renamed over the old one."""
    gm = _fitted(GaussianMixture, "tied")
    path = tmp_path / "model.npz"
    path.write_bytes(b"old")
    inode = os.stat(path).st_ino
    gm.save(path)
    assert os.stat(path).st_ino != inode  # renamed over, not written in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]
    X = _data()
    assert fastgmm.load(path).predict(X).tobytes() == gm.predict(X).tobytes()
