"""Other EM implementations that ``fastgmm bench --peers`` times next to fastgmm.

``onedal``: Intel oneDAL's ``em_gmm`` (:mod:`.onedal`); ``armadillo``:
Armadillo's ``gmm_diag``, built from the C++ program next to
:mod:`.armadillo`. Both are optional and skipped with a note when missing.
"""

PEERS = ("onedal", "armadillo")


def peer_available(name):
    """Whether an optional peer library can be imported."""
    if name == "onedal":
        import importlib.util

        return importlib.util.find_spec("daal4py") is not None
    if name == "armadillo":
        from . import armadillo

        return armadillo.available()[0]
    raise ValueError(name)


def peer_hint(name):
    """How to install a missing peer, for the skip note."""
    if name == "armadillo":
        from . import armadillo

        return f"Armadillo: {armadillo.available()[1]}; {armadillo.INSTALL_HINT}"
    return "oneDAL: pip install scikit-learn-intelex"
