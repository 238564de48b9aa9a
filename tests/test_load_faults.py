"""Model files that pass the checksum but not the loader: each refusal names file and field.

Every file here is rewritten with a *valid* checksum, so what refuses it is
the loader's check of the content: the header's fields and types, the
arrays it declares, and the agreement of the arrays with each other (a file
whose ``covariances_`` and ``precisions_`` were swapped samples from the
wrong covariance if it loads).
"""

import json
import os
import stat
import threading
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import fastgmm
from fastgmm._files.modelfile import write_archive
from fastgmm import BayesianGaussianMixture, GaussianMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def _data():
    rng = np.random.default_rng(0)
    return np.vstack([rng.normal(size=(200, 3)) * [1.0, 0.5, 2.0] + c
                      for c in ([0, 0, 0], [6, 0, 1], [0, 7, -2])])


def _members(path):
    with np.load(path, allow_pickle=False) as archive:
        members = {name: archive[name] for name in archive.files}
    header = json.loads(members.pop("header").tobytes())
    members.pop("checksum")
    return header, members


def _rewrite(path, header, arrays):
    os.remove(path)
    write_archive(path, header, arrays)


def _saved(tmp_path, cls=GaussianMixture, covariance_type="full", dtype=np.float64):
    path = tmp_path / f"{cls.__name__}-{covariance_type}.npz"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if cls is GaussianMixture:
            est = GaussianMixture(3, covariance_type=covariance_type, random_state=0)
        else:
            est = BayesianGaussianMixture(n_components=3, covariance_type=covariance_type,
                                          random_state=0, max_iter=20)
        est.fit(_data().astype(dtype)).save(path)
    return path


def _refused(path, *fields):
    with pytest.raises(ValueError) as info:
        fastgmm.load(path)
    message = str(info.value)
    assert f"'{path}'" in message, message
    for field in fields:
        assert field in message, message
    return message


# --------------------------------------------------- arrays that disagree
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_swapped_covariances_and_precisions_are_refused(tmp_path, covariance_type, dtype):
    path = _saved(tmp_path, covariance_type=covariance_type, dtype=dtype)
    header, arrays = _members(path)
    arrays["covariances_"], arrays["precisions_"] = arrays["precisions_"], arrays["covariances_"]
    _rewrite(path, header, arrays)
    _refused(path, "precisions_")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
def test_covariances_that_are_not_the_inverse_of_the_precisions_are_refused(
        tmp_path, cls, covariance_type):
    path = _saved(tmp_path, cls, covariance_type)
    header, arrays = _members(path)
    arrays["covariances_"] = arrays["covariances_"] * 1.5
    _rewrite(path, header, arrays)
    _refused(path, "covariances_", "inverse")


def test_a_cholesky_factor_of_other_precisions_is_refused(tmp_path):
    path = _saved(tmp_path)
    header, arrays = _members(path)
    arrays["precisions_cholesky_"] = arrays["precisions_cholesky_"] * 1.01
    _rewrite(path, header, arrays)
    _refused(path, "precisions_", "precisions_cholesky_")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_files_save_writes_always_load(tmp_path, cls, covariance_type, dtype):
    """The checks refuse nothing a fit produces."""
    fastgmm.load(_saved(tmp_path, cls, covariance_type, dtype))


# --------------------------------------------------- header fields
def _change_header(change):
    def apply(header, arrays):
        change(header)
    return apply


HEADER_CASES = {
    "unknown estimator": (_change_header(lambda h: h.update(estimator="Banana")),
                          ["unknown estimator 'Banana'"]),
    "incomplete header (params)": (_change_header(lambda h: h.pop("params")),
                                   ["header is incomplete", "params"]),
    "incomplete header (n_iter_)": (_change_header(lambda h: h["fitted"].pop("n_iter_")),
                                    ["header is incomplete", "n_iter_"]),
    "non-float dtype": (_change_header(lambda h: h.update(dtype="int64")),
                        ["dtype must be float32 or float64"]),
    "n_features_in_ not an integer": (
        _change_header(lambda h: h["fitted"].update(n_features_in_="abc")), ["n_features_in_"]),
    "n_features_in_ a float": (
        _change_header(lambda h: h["fitted"].update(n_features_in_=3.5)), ["n_features_in_"]),
    "n_features_in_ a bool": (
        _change_header(lambda h: h["fitted"].update(n_features_in_=True)), ["n_features_in_"]),
    "n_features_in_ wrong": (
        _change_header(lambda h: h["fitted"].update(n_features_in_=4)), ["means_"]),
    "n_iter_ a float": (_change_header(lambda h: h["fitted"].update(n_iter_=2.5)),
                        ["n_iter_"]),
    "n_iter_ negative": (_change_header(lambda h: h["fitted"].update(n_iter_=-1)),
                         ["n_iter_"]),
    "converged_ a string": (_change_header(lambda h: h["fitted"].update(converged_="yes")),
                            ["converged_"]),
    "lower_bound_ a string": (_change_header(lambda h: h["fitted"].update(lower_bound_="x")),
                              ["lower_bound_"]),
    "lower_bound_ NaN": (_change_header(lambda h: h["fitted"].update(lower_bound_=float("nan"))),
                         ["lower_bound_"]),
    "lower_bounds_ not a list": (
        _change_header(lambda h: h["fitted"].update(lower_bounds_=1.0)), ["lower_bounds_"]),
    "lower_bounds_ of strings": (
        _change_header(lambda h: h["fitted"].update(lower_bounds_=["a"])), ["lower_bounds_"]),
    "feature_names_in_ of the wrong length": (
        _change_header(lambda h: h["fitted"].update(feature_names_in_=["a", "b"])),
        ["feature_names_in_", "n_features_in_"]),
    "header declares an array the file lacks": (
        _change_header(lambda h: h["arrays"].update(extra={"dtype": "<f8", "shape": [1]})),
        ["holds arrays"]),
    "file holds an array the header does not declare": (
        lambda h, a: a.update(extra=np.zeros(1)), ["holds arrays"]),
}


def _unknown_parameter_array(header, arrays):
    header["param_arrays"] = sorted(header["param_arrays"] + ["banana"])
    header["arrays"]["banana"] = {"dtype": "<f8", "shape": [2]}
    arrays["banana"] = np.zeros(2)


HEADER_CASES["unknown parameter array"] = (_unknown_parameter_array,
                                           ["unknown parameter array 'banana'"])


@pytest.mark.parametrize("case", list(HEADER_CASES))
def test_each_refusal_of_the_loader_names_the_file_and_the_field(tmp_path, case):
    change, fields = HEADER_CASES[case]
    path = _saved(tmp_path)
    header, arrays = _members(path)
    change(header, arrays)
    _rewrite(path, header, arrays)
    _refused(path, *fields)


@pytest.mark.parametrize("name", ["weight_concentration_prior_", "mean_precision_prior_",
                                  "degrees_of_freedom_prior_"])
@pytest.mark.parametrize("value", [-1.0, 0, "x", None, True])
def test_the_bayesian_fitted_scalars_are_checked(tmp_path, name, value):
    path = _saved(tmp_path, BayesianGaussianMixture)
    header, arrays = _members(path)
    header["fitted"][name] = value
    _rewrite(path, header, arrays)
    _refused(path, name)


@pytest.mark.parametrize("name", ["weight_concentration_prior_", "mean_precision_prior_",
                                  "degrees_of_freedom_prior_"])
def test_a_missing_bayesian_fitted_scalar_is_an_incomplete_header(tmp_path, name):
    path = _saved(tmp_path, BayesianGaussianMixture)
    header, arrays = _members(path)
    del header["fitted"][name]
    _rewrite(path, header, arrays)
    _refused(path, "header is incomplete", name)


# --------------------------------------------------- not a regular file
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_load_of_a_fifo_without_a_writer_is_refused_at_once(tmp_path):
    fifo = tmp_path / "model.npz"
    os.mkfifo(fifo)
    outcome = []

    def load():
        try:
            fastgmm.load(fifo)
        except ValueError as exc:
            outcome.append(str(exc))

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=60)
    if worker.is_alive():  # unblock the reader so the test process can end
        with open(fifo, "wb"):
            pass
        worker.join(timeout=10)
        pytest.fail("load blocked on a FIFO without a writer")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert outcome and "not a regular file" in outcome[0] and str(fifo) in outcome[0]


def test_load_of_a_directory_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not a regular file"):
        fastgmm.load(tmp_path)
    with pytest.raises(FileNotFoundError):
        fastgmm.load(tmp_path / "missing.npz")
