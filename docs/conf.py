"""Sphinx configuration of the fastgmm documentation.

Build with ``sphinx-build -W -b html docs docs/_build/html`` from the
repository root (``pip install ".[docs]"`` first). Warnings are errors, and
``nitpicky`` turns a reference to a fastgmm name that does not exist into a
warning, so a broken reference fails the build.
"""

import os
import sys

# The checkout's fastgmm, whether or not it is installed, here and in the
# processes the examples start.
sys.path.insert(0, os.path.abspath(".."))
os.environ["PYTHONPATH"] = os.pathsep.join(
    [os.path.abspath("..")] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
sys.path.insert(0, os.path.abspath("_ext"))
import fastgmm  # noqa: E402

project = "fastgmm"
author = "the fastgmm developers"
copyright = "the fastgmm developers"
release = fastgmm.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
    "fastgmm_cli",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "examples", "**.ipynb_checkpoints"]
templates_path = ["_templates"]

# -- references: every fastgmm name must resolve ------------------------------
# No intersphinx: the build must work offline. References to other projects
# (scikit-learn, NumPy, Dask) stay plain text and are not checked.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(sklearn|numpy|np|dask|distributed|scipy|numba|matplotlib|os|pathlib)(\..*)?"),
    (r"py:.*", r"(array-like|ndarray|object|str|int|float|bool|callable|iterable|dict|list|tuple)"),
]

# -- autodoc / autosummary / numpydoc -----------------------------------------
autosummary_generate = True
autodoc_typehints = "none"          # the numpydoc sections carry the types
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False  # the class template lists the members
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
# Sections every public docstring must have complete: a one-line summary,
# every parameter documented (with a description) and none unknown, a
# Returns section with descriptions for functions that return. (RT02 is
# off: returns are named, "bic : float", as in scikit-learn.)
numpydoc_validation_checks = {"GL08", "SS01", "SS06", "PR01", "PR02", "PR07", "RT01", "RT03"}
numpydoc_validation_exclude = {r"\.__init__$", r"\.set_(fit|score|partial_fit)_request$",
                               r"\.get_metadata_routing$"}

# -- MyST (user guide pages) --------------------------------------------------
# No math extension: MathJax would load from a CDN, and the site must read
# the same offline; formulas are plain text.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# -- sphinx-gallery ------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"plot_",
    "within_subsection_order": "gallery_order.ExampleOrder",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "min_reported_time": 1,
    # No execution-times pages: they load jQuery and DataTables from CDNs.
    "write_computation_times": False,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
}

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"fastgmm {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navbar_align": "left",
    "show_prev_next": True,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "getting_started": [], "benchmarks": []}
html_show_sourcelink = False
# Long method names in the page's table of contents: "fit()", not
# "GaussianMixture.fit()".
toc_object_entries_show_parents = "hide"
html_css_files = ["fastgmm.css"]
html_favicon = "_static/favicon.svg"
