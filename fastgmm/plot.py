"""Figures of a fitted mixture and of a model-selection curve (needs matplotlib).

matplotlib is an optional extra (``pip install "fastgmm[plot]"``); it is
imported inside the functions, never by ``import fastgmm``. Figures are
drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas, so no
GUI backend or global pyplot state is involved.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._files.datafile import atomic_write

if TYPE_CHECKING:
    from .mixture import GaussianMixture
    from .selection import Candidate


def _figure(figsize):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "plotting needs matplotlib, which is not installed; install it with "
            "`pip install \"fastgmm[plot]\"` (or `pip install matplotlib`)") from None
    figure = Figure(figsize=figsize, dpi=100)
    FigureCanvasAgg(figure)
    return figure


def full_covariances(model: GaussianMixture) -> np.ndarray:
    """The covariances of ``model`` as ``(n_components, d, d)`` matrices, whatever its type."""
    k, d = model.means_.shape
    cov = np.asarray(model.covariances_, dtype=np.float64)
    return {
        "full": lambda: cov,
        "tied": lambda: np.broadcast_to(cov, (k, d, d)),
        "diag": lambda: cov[:, :, None] * np.eye(d),
        "spherical": lambda: cov[:, None, None] * np.eye(d),
    }[model.covariance_type]()


def principal_axes(model: GaussianMixture) -> np.ndarray:
    """The two leading principal axes (as columns, ``(d, 2)``) of the mixture's covariance.

    The mixture's total covariance ``sum_j w_j (Sigma_j + mu_j mu_j^T) - mu mu^T``
    is computed from the parameters, without a pass over the data. For 2-D
    models this is the identity.
    """
    d = model.means_.shape[1]
    if d <= 2:
        return np.eye(d)
    w = np.asarray(model.weights_, dtype=np.float64)
    means = np.asarray(model.means_, dtype=np.float64)
    center = w @ means
    offsets = means - center
    total = np.einsum("j,jab->ab", w, full_covariances(model))
    total += (w[:, None] * offsets).T @ offsets
    _, vectors = np.linalg.eigh(total)
    return vectors[:, ::-1][:, :2]


def _ellipse(ax, mean, cov, n_sigma, color):
    from matplotlib.patches import Ellipse

    values, vectors = np.linalg.eigh(cov)
    values = np.clip(values, 0.0, None)
    angle = np.degrees(np.arctan2(vectors[1, 1], vectors[0, 1]))
    ax.add_patch(Ellipse(mean, 2 * n_sigma * np.sqrt(values[1]),
                         2 * n_sigma * np.sqrt(values[0]), angle=angle, fill=False,
                         edgecolor=color, linewidth=1.5 if n_sigma == 1 else 1.0,
                         linestyle="-" if n_sigma == 1 else "--"))


def plot_mixture(model: GaussianMixture, X, path: str | os.PathLike | None = None, *,
                 max_points: int = 20_000, random_state: int = 0,
                 title: str | None = None) -> Any:
    """Scatter ``X`` coloured by component with each component's 1- and 2-sigma ellipses.

    Data with more than two features are projected on the two leading
    principal axes of the mixture (:func:`principal_axes`); the ellipses are
    those of the projected covariances.

    Parameters
    ----------
    model : GaussianMixture
        A fitted mixture.
    X : array-like of shape (n_samples, n_features)
        Data to draw; at most ``max_points`` rows, drawn at random, are shown.
    path : str or path-like, default=None
        Where to save the figure (format from the suffix, e.g. ``.png``).
    max_points : int, default=20_000
        Cap on the number of points drawn.
    random_state : int, default=0
        Seeds the choice of the points drawn.
    title : str, default=None
        Figure title; by default the model's size and covariance type.

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    figure = _figure((6.4, 5.6))
    if not hasattr(X, "shape"):
        X = np.asarray(X)
    n = X.shape[0]
    if n > max_points:
        rows = np.sort(np.random.default_rng(random_state).choice(n, max_points, replace=False))
        X = X[rows]
    X = np.asarray(X)
    labels = model.predict(X)
    axes = principal_axes(model)
    Y = np.asarray(X, dtype=np.float64) @ axes
    means = np.asarray(model.means_, dtype=np.float64) @ axes
    covs = np.einsum("ai,jab,bk->jik", axes, full_covariances(model), axes)
    ax = figure.add_subplot()
    cmap = _colormap(model.n_components)
    if Y.shape[1] == 1:
        Y = np.column_stack([Y[:, 0], np.zeros(len(Y))])
    ax.scatter(Y[:, 0], Y[:, 1], c=labels, cmap=cmap, vmin=-0.5,
               vmax=model.n_components - 0.5, s=3, alpha=0.4, linewidths=0)
    if axes.shape[1] == 2:
        for j in range(model.n_components):
            color = cmap(j)
            for n_sigma in (1, 2):
                _ellipse(ax, means[j], covs[j], n_sigma, color)
            ax.plot(*means[j], marker="x", color="black", markersize=6)
    d = model.means_.shape[1]
    ax.set_xlabel("x0" if d <= 2 else "principal axis 1")
    ax.set_ylabel("x1" if d <= 2 else "principal axis 2")
    ax.set_title(title or f"{model.n_components} components ({model.covariance_type}), "
                 "1- and 2-sigma ellipses")
    ax.set_aspect("equal", adjustable="datalim")
    figure.tight_layout()
    if path is not None:
        _save(figure, path)
    return figure


def _save(figure, path) -> None:
    """Write ``figure`` atomically, in the format its file name ends with."""
    fmt = os.path.splitext(os.fspath(path))[1][1:].lower() or "png"
    atomic_write(path, lambda f: figure.savefig(f, format=fmt))


def _colormap(n):
    """Distinct qualitative colours for up to 20 components, a smooth map beyond."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    if n <= 20:
        return ListedColormap(colormaps["tab10" if n <= 10 else "tab20"].colors[:n])
    return colormaps["turbo"].resampled(n)


def plot_criterion(table: Sequence[Candidate], path: str | os.PathLike | None = None, *,
                   criterion: str = "bic") -> Any:
    """The BIC or AIC of each candidate against its number of components.

    Parameters
    ----------
    table : sequence of Candidate
        The table returned by :func:`fastgmm.select`.
    path : str or path-like, default=None
        Where to save the figure.
    criterion : {'bic', 'aic'}, default='bic'

    Returns
    -------
    figure : matplotlib.figure.Figure
    """
    figure = _figure((6.4, 4.2))
    ax = figure.add_subplot()
    best = min((c for c in table if np.isfinite(getattr(c, criterion))),
               key=lambda c: getattr(c, criterion), default=None)
    for covariance_type in dict.fromkeys(c.covariance_type for c in table):
        rows = [c for c in table if c.covariance_type == covariance_type]
        ax.plot([c.n_components for c in rows], [getattr(c, criterion) for c in rows],
                marker="o", label=covariance_type)
    if best is not None:
        ax.plot(best.n_components, getattr(best, criterion), marker="*", markersize=16,
                color="crimson", linestyle="none",
                label=f"best: {best.n_components} ({best.covariance_type})")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("number of components")
    ax.set_ylabel(f"{criterion.upper()} (lower is better)")
    ax.legend()
    ax.grid(alpha=0.3)
    figure.tight_layout()
    if path is not None:
        _save(figure, path)
    return figure
