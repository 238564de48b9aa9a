"""Model files: bitwise round trips, atomic writes, and refusal of bad files."""

import json
import os
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError

import fastgmm
from fastgmm._files.modelfile import write_archive
from fastgmm import GaussianMixture, io

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
FITTED = ["weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"]


def _data(dtype=np.float64):
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(300, 3)) * [1.0, 0.5, 2.0] + c
                   for c in ([0, 0, 0], [6, 0, 1], [0, 7, -2])])
    return X.astype(dtype)


def _fitted(covariance_type="full", dtype=np.float64, **kwargs):
    return GaussianMixture(3, covariance_type=covariance_type, random_state=0,
                           **kwargs).fit(_data(dtype))


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.npz"
    _fitted().save(path)
    return path


def _members(path):
    with np.load(path, allow_pickle=False) as archive:
        members = {name: archive[name] for name in archive.files}
    header = json.loads(members.pop("header").tobytes())
    checksum = members.pop("checksum")
    return header, members, checksum


def _rewrite(path, header, arrays):
    """Write a file with a *valid* checksum, to reach the checks behind it."""
    os.remove(path)
    write_archive(path, header, arrays)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_round_trip_is_bitwise(tmp_path, covariance_type, dtype):
    gm = _fitted(covariance_type, dtype)
    path = tmp_path / "model.npz"
    gm.save(path)
    loaded = fastgmm.load(path)
    for name in FITTED:
        saved_array, loaded_array = getattr(gm, name), getattr(loaded, name)
        assert loaded_array.dtype == saved_array.dtype == dtype
        assert loaded_array.tobytes() == saved_array.tobytes(), name
    assert loaded.get_params() == gm.get_params()
    for name in ("n_features_in_", "n_iter_", "converged_", "lower_bound_", "lower_bounds_"):
        assert getattr(loaded, name) == getattr(gm, name)
    X = _data(dtype)
    assert loaded.predict(X).tobytes() == gm.predict(X).tobytes()
    assert loaded.predict_proba(X).tobytes() == gm.predict_proba(X).tobytes()
    assert loaded.score_samples(X).tobytes() == gm.score_samples(X).tobytes()
    assert loaded.sample(5)[0].tobytes() == gm.sample(5)[0].tobytes()


def test_array_hyper_parameters_and_feature_names_round_trip(tmp_path):
    means_init = np.array([[0.0, 0, 0], [6, 0, 1], [0, 7, -2]])
    gm = GaussianMixture(3, means_init=means_init, random_state=0).fit(_data())
    gm.feature_names_in_ = np.array(["a", "b", "c"], dtype=object)  # as a DataFrame sets it
    gm.save(tmp_path / "m.npz")
    loaded = fastgmm.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.means_init, means_init)
    assert loaded.feature_names_in_.dtype == object
    assert list(loaded.feature_names_in_) == ["a", "b", "c"]


def test_non_integer_random_state_is_saved_as_none(tmp_path):
    gm = _fitted().set_params(random_state=np.random.RandomState(0))
    with pytest.warns(UserWarning, match="random_state.*saved as None"):
        gm.save(tmp_path / "m.npz")
    assert fastgmm.load(tmp_path / "m.npz").random_state is None


def test_unfitted_model_is_not_saved(tmp_path):
    with pytest.raises(NotFittedError):
        GaussianMixture(2).save(tmp_path / "m.npz")
    assert not os.listdir(tmp_path)


def test_save_replaces_an_existing_file(saved):
    _fitted("diag").save(saved)
    assert fastgmm.load(saved).covariance_type == "diag"
    assert os.listdir(saved.parent) == ["model.npz"]


def test_crash_at_replace_keeps_previous_file_and_no_temp_file(saved, monkeypatch):
    before = saved.read_bytes()

    def crash(src, dst):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        _fitted("spherical").save(saved)
    assert saved.read_bytes() == before
    assert os.listdir(saved.parent) == ["model.npz"]


def test_crash_while_writing_keeps_previous_file_and_no_temp_file(saved, monkeypatch):
    before = saved.read_bytes()

    def half_written(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt  # not even an Exception: cleanup must still run

    monkeypatch.setattr(np, "savez", half_written)
    with pytest.raises(KeyboardInterrupt):
        _fitted("tied").save(saved)
    assert saved.read_bytes() == before
    assert os.listdir(saved.parent) == ["model.npz"]


def test_crash_on_first_save_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "replace", lambda src, dst: (_ for _ in ()).throw(OSError("x")))
    with pytest.raises(OSError):
        _fitted().save(tmp_path / "model.npz")
    assert os.listdir(tmp_path) == []


def test_truncated_file_is_refused(saved):
    raw = saved.read_bytes()
    for cut in (len(raw) // 2, len(raw) - 10, 30):
        saved.write_bytes(raw[:cut])
        with pytest.raises(ValueError, match="model.npz.*truncated or corrupted"):
            fastgmm.load(saved)


def test_empty_and_foreign_files_are_refused(tmp_path):
    path = tmp_path / "m.npz"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        fastgmm.load(path)
    path.write_bytes(b"\x93NUMPY not a zip")
    with pytest.raises(ValueError, match="not an .npz archive"):
        fastgmm.load(path)
    np.savez(path, weights_=np.ones(2))
    with pytest.raises(ValueError, match="not a fastgmm model.*no header"):
        fastgmm.load(path)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastgmm.load(tmp_path / "nope.npz")


def test_pickled_objects_are_never_loaded(saved):
    header, arrays, checksum = _members(saved)
    arrays["means_"] = np.array([{"evil": 1}], dtype=object)
    np.savez(saved, header=np.frombuffer(json.dumps(header).encode(), np.uint8),
             checksum=checksum, **arrays)
    with pytest.raises(ValueError, match="cannot be read without pickle"):
        fastgmm.load(saved)


@pytest.mark.parametrize("target", ["array", "header"])
def test_tampered_file_fails_the_checksum(saved, target):
    header, arrays, checksum = _members(saved)
    if target == "array":
        arrays["means_"] = arrays["means_"].copy()
        arrays["means_"][0, 0] += 1e-9
    else:
        header["params"]["reg_covar"] = 0.5
    np.savez(saved, header=np.frombuffer(json.dumps(header, sort_keys=True).encode(), np.uint8),
             checksum=checksum, **arrays)
    with pytest.raises(ValueError, match="checksum mismatch"):
        fastgmm.load(saved)


def test_a_byte_flipped_inside_the_archive_is_refused(saved):
    raw = bytearray(saved.read_bytes())
    raw[len(raw) // 3] ^= 0xFF
    saved.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="truncated or corrupted|checksum mismatch"):
        fastgmm.load(saved)


def test_newer_format_version_is_refused(saved):
    header, arrays, _ = _members(saved)
    header["format_version"] = io.FORMAT_VERSION + 1
    _rewrite(saved, header, arrays)
    with pytest.raises(ValueError, match=f"format version {io.FORMAT_VERSION + 1}.*newer.*"
                                         "upgrade fastgmm"):
        fastgmm.load(saved)


def _corrupt(saved, name, change):
    header, arrays, _ = _members(saved)
    arrays[name] = change(arrays[name].copy())
    header["arrays"][name] = {"dtype": arrays[name].dtype.str,
                              "shape": list(arrays[name].shape)}
    _rewrite(saved, header, arrays)


def _set(index, value):
    def change(a):
        a[index] = value
        return a
    return change


@pytest.mark.parametrize("name, change, message", [
    ("means_", lambda a: a[:, :2].copy(), r"means_ has shape \(3, 2\), expected \(3, 3\)"),
    ("weights_", lambda a: a[:2].copy(), r"weights_ has shape"),
    ("covariances_", lambda a: a.astype(np.float32), "covariances_ has dtype float32"),
    ("means_", _set((1, 1), np.nan), "means_ contains non-finite"),
    ("precisions_", _set((0, 0, 0), np.inf), "precisions_ contains non-finite"),
    ("precisions_cholesky_", _set((0, 1, 1), -1.0), "not positive-definite"),
    ("precisions_cholesky_", _set((0, 2, 0), 0.5), "upper-triangular"),
    ("precisions_", lambda a: a * -1.0, "precisions_ is not positive-definite"),
    ("covariances_", _set((2, 0, 1), 50.0), "covariances_ is not symmetric"),
    ("weights_", lambda a: a * 2, "weights_ must lie in"),
])
def test_invalid_parameters_are_refused(saved, name, change, message):
    _corrupt(saved, name, change)
    with pytest.raises(ValueError, match=message):
        fastgmm.load(saved)


@pytest.mark.parametrize("covariance_type", ["diag", "spherical"])
def test_non_positive_diagonal_precisions_are_refused(tmp_path, covariance_type):
    path = tmp_path / "m.npz"
    _fitted(covariance_type).save(path)
    _corrupt(path, "precisions_cholesky_", lambda a: -a)
    with pytest.raises(ValueError, match="precisions_cholesky_ must be positive"):
        fastgmm.load(path)


def test_invalid_hyper_parameters_are_refused(saved):
    header, arrays, _ = _members(saved)
    header["params"]["covariance_type"] = "banana"
    _rewrite(saved, header, arrays)
    with pytest.raises(ValueError, match="invalid hyper-parameters.*covariance_type"):
        fastgmm.load(saved)


def test_unexpected_arrays_are_refused(saved):
    header, arrays, _ = _members(saved)
    arrays["extra"] = np.zeros(1)
    _rewrite(saved, header, arrays)
    with pytest.raises(ValueError, match="holds arrays"):
        fastgmm.load(saved)


# ------------------------------------------------------- the Bayesian mixture
BAYES_ARRAYS = FITTED + ["mean_precision_"]


@pytest.mark.parametrize("prior_type", ["dirichlet_process", "dirichlet_distribution"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bayesian_round_trip_is_bitwise(tmp_path, covariance_type, dtype, prior_type):
    X = _data(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bgm = fastgmm.BayesianGaussianMixture(
            n_components=4, covariance_type=covariance_type, random_state=0,
            weight_concentration_prior_type=prior_type, mean_prior=[0.0, 1.0, 0.0]).fit(X)
    bgm.save(tmp_path / "b.npz")
    loaded = fastgmm.load(tmp_path / "b.npz")
    assert type(loaded) is fastgmm.BayesianGaussianMixture
    assert loaded.get_params().keys() == bgm.get_params().keys()
    np.testing.assert_array_equal(loaded.mean_prior, bgm.mean_prior)
    for name in BAYES_ARRAYS:
        assert getattr(loaded, name).tobytes() == np.asarray(getattr(bgm, name),
                                                             dtype=dtype).tobytes(), name
    for name in ("degrees_of_freedom_", "mean_prior_", "covariance_prior_"):
        assert np.shape(getattr(loaded, name)) == np.shape(getattr(bgm, name)), name
        np.testing.assert_array_equal(getattr(loaded, name), getattr(bgm, name))
    if prior_type == "dirichlet_process":
        assert isinstance(loaded.weight_concentration_, tuple)
    np.testing.assert_array_equal(np.asarray(loaded.weight_concentration_),
                                  np.asarray(bgm.weight_concentration_))
    for name in ("n_iter_", "converged_", "lower_bound_", "lower_bounds_",
                 "weight_concentration_prior_", "mean_precision_prior_",
                 "degrees_of_freedom_prior_"):
        assert getattr(loaded, name) == getattr(bgm, name), name
    assert loaded.predict_proba(X).tobytes() == bgm.predict_proba(X).tobytes()
    assert loaded.score_samples(X).tobytes() == bgm.score_samples(X).tobytes()
    assert loaded.sample(5)[0].tobytes() == bgm.sample(5)[0].tobytes()
    # A loaded model continues like the saved one.
    loaded.set_params(warm_start=True, max_iter=2)
    bgm.set_params(warm_start=True, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        np.testing.assert_array_equal(loaded.fit(X).means_, bgm.fit(X).means_)


@pytest.mark.parametrize("name, change, message", [
    ("degrees_of_freedom_", lambda a: a * 0.0, "degrees_of_freedom_ must exceed"),
    ("mean_precision_", lambda a: -a, "mean_precision_ must be positive"),
    ("weight_concentration_", lambda a: a[:1].copy(), "weight_concentration_ has shape"),
    ("mean_prior_", _set(0, np.nan), "mean_prior_ contains non-finite"),
])
def test_invalid_bayesian_parameters_are_refused(tmp_path, name, change, message):
    path = tmp_path / "b.npz"
    fastgmm.BayesianGaussianMixture(n_components=3, random_state=0).fit(_data()).save(path)
    _corrupt(path, name, change)
    with pytest.raises(ValueError, match=message):
        fastgmm.load(path)
