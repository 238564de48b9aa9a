"""The report of ``fastgmm bench``: machine information, the table, Markdown and a chart."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field

import numpy as np

_BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def machine_info():
    """CPU, versions and the BLAS kernel, for the report header."""
    import numba
    import sklearn
    from threadpoolctl import threadpool_info

    import fastgmm

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    blas = [f"{os.path.basename(i.get('filepath', '?'))} ({i.get('internal_api')} "
            f"{i.get('version')}): kernel {i.get('architecture', '?')}, "
            f"{i.get('num_threads')} threads"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    env = {name: os.environ.get(name) for name in _BLAS_ENV}
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "scikit-learn": sklearn.__version__,
            "numba": numba.__version__, "fastgmm": fastgmm.__version__,
            "blas": "; ".join(blas) or "unknown",
            "blas_env": ", ".join(f"{k}={v}" for k, v in env.items() if v) or "unset",
            "load": _loadavg()}


def _loadavg():
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


_HEAD = ("case", "sep", "dtype", "n", "d", "k", "covariance", "sklearn s/iter",
         "fastgmm s/iter", "speedup", "goal", "oneDAL s/iter", "vs oneDAL",
         "Armadillo s/iter", "vs Armadillo", "f32 gain",
         "lower_bound_ rel. diff", "default fit: sklearn s", "fastgmm s", "speedup",
         "iterations", "oneDAL default fit s", "vs oneDAL (fit)")
# Goals: vs oneDAL, vs Armadillo and float32 over float64.
ONEDAL_GOAL = 1.3
ARMADILLO_GOAL = 5.0
FLOAT32_GOAL = 1.5


def _ratio_cell(value, goal):
    if not np.isfinite(value):
        return "-"
    return f"{value:.2f}x ({'ok' if value >= goal else 'below'})"


def _cells(row):
    speedup = row["speedup"]
    if np.isnan(row["sklearn_s"]):
        met, speedup_cell = "-", "-"
    elif not np.isfinite(speedup):  # a timing difference lost in noise
        met, speedup_cell = "?", "noise"
    else:
        met = "ok" if speedup >= row["goal"] else "below"
        speedup_cell = f"{speedup:.1f}x"
    sk = row["sklearn_s"]
    dal = row["onedal_s"]
    return (row["case"], f"{row['separation']:g}", row["dtype"], f"{row['n']:,}",
            str(row["d"]), str(row["k"]), row["covariance"],
            "-" if np.isnan(sk) else f"{sk:.3f}", f"{row['fastgmm_s']:.4f}", speedup_cell,
            f">= {row['goal']:g}x ({met})", "-" if np.isnan(dal) else f"{dal:.4f}",
            _ratio_cell(row["vs_onedal"], ONEDAL_GOAL),
            "-" if np.isnan(row["armadillo_s"]) else f"{row['armadillo_s']:.4f}",
            _ratio_cell(row["vs_armadillo"], ARMADILLO_GOAL),
            _ratio_cell(row["f32_gain"], FLOAT32_GOAL),
            "-" if np.isnan(row["ll_rel_diff"]) else f"{row['ll_rel_diff']:.1e}",
            _seconds(row.get("fit_sklearn_s")), _seconds(row.get("fit_fastgmm_s")),
            "-" if not np.isfinite(row.get("fit_speedup", np.nan))
            else f"{row['fit_speedup']:.1f}x", row.get("fit_iters", "-"),
            _seconds(row.get("fit_onedal_s")),
            "-" if not np.isfinite(row.get("fit_vs_onedal", np.nan))
            else f"{row['fit_vs_onedal']:.1f}x ({row['fit_onedal_iters']} it.)")


def _seconds(value):
    return "-" if value is None or not np.isfinite(value) else f"{value:.3f}"


_WIDTHS = (10, 4, 8, 10, 3, 3, 10, 14, 14, 8, 16, 13, 13, 16, 13, 13, 22, 22, 10, 8, 10, 20, 16)


def format_text(rows, header=True):
    """Fixed-width text table (rows printed one at a time line up)."""
    table = ([_HEAD] if header else []) + [_cells(r) for r in rows]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, _WIDTHS)).rstrip()
                     for line in table)


_MISSING_HEAD = ("covariance", "dtype", "n", "d", "k", "(a) complete s/iter",
                 "(b) 10% entries missing s/iter", "(b)/(a)",
                 "(c) 30% rows miss 4 columns s/iter", "(c)/(a)", "goal")
_MISSING_WIDTHS = (10, 8, 10, 3, 3, 19, 30, 15, 34, 15, 8)


def _bound_cell(value, goal):
    """A ratio whose goal is an upper bound: ``2.63x (ok)`` or ``(above)``."""
    if not np.isfinite(value):  # a timing difference lost in noise
        return "noise"
    return f"{value:.2f}x ({'ok' if value <= goal else 'above'})"


def _per_iteration_cell(value):
    return f"{value:.4f}" if np.isfinite(value) else "noise"


def _missing_cells(row):
    return (row["covariance"], row["dtype"], f"{row['n']:,}", str(row["d"]), str(row["k"]),
            _per_iteration_cell(row["complete_s"]), _per_iteration_cell(row["scattered_s"]),
            _bound_cell(row["scattered_ratio"], row["goal"]),
            _per_iteration_cell(row["block_s"]),
            _bound_cell(row["block_ratio"], row["goal"]), f"<= {row['goal']:g}x")


def format_missing_text(rows, header=True):
    """Fixed-width text table of the missing-values extra (rows line up one at a time)."""
    table = ([_MISSING_HEAD] if header else []) + [_missing_cells(r) for r in rows]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, _MISSING_WIDTHS)).rstrip()
                     for line in table)


@dataclass
class Report:
    info: dict
    settings: dict
    rows: list = field(default_factory=list)
    extras: list = field(default_factory=list)
    missing: list = field(default_factory=list)  # rows of the missing-values extra

    def markdown(self):
        i, s = self.info, self.settings
        lines = [
            f"Machine: {i['cpu']}, {i['cores']} cores; Python {i['python']}, "
            f"NumPy {i['numpy']}, scikit-learn {i['scikit-learn']}, Numba {i['numba']}, "
            f"fastgmm {i['fastgmm']}.",
            f"BLAS: {i['blas']}; OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE: {i['blas_env']}. "
            f"Load average (1, 5, 15 min) at start: {i['load']}, at end: "
            f"{i.get('load_end', '?')}.",
            f"Per iteration = (t(max_iter={s['iters'][1]}) - t(max_iter={s['iters'][0]}))"
            f" / (iterations run between them: {s['iters'][1] - s['iters'][0]}, fewer for"
            " oneDAL where it stops early), same initial parameters, tol=0, "
            f"{s['threads']} threads for all; scale {s['scale']:g}; fastgmm best of "
            f"{s['repeat']}. sep = centre scale of the data; f32 gain = fastgmm float64 "
            f"s/iter / float32 s/iter on the same data (goal >= {FLOAT32_GOAL:g}x); "
            f"vs oneDAL = oneDAL s/iter / fastgmm s/iter (goal >= {ONEDAL_GOAL:g}x); "
            f"vs Armadillo = Armadillo gmm_diag s/iter / fastgmm s/iter (goal >= "
            f"{ARMADILLO_GOAL:g}x). Default fit = the whole fit a user runs, "
            "GaussianMixture(k, covariance_type=..., random_state=0).fit(X) with every "
            "other parameter at its default (k-means init, tol=1e-3), once each, wall "
            "time; iterations = fastgmm's/scikit-learn's n_iter_. oneDAL default fit = its "
            "own initialisation (em_gmm_init, defaults) then em_gmm with max_iter=100 and "
            "threshold 1e-3 x n on its total log-likelihood, timed whole; vs oneDAL (fit) = "
            "its time / fastgmm's default fit."
            + (f" {s['peer_note']}" if s.get("peer_note") else ""),
        ]
        if self.rows:  # none with --cases none
            lines += ["", "| " + " | ".join(_HEAD) + " |",
                      "|" + "|".join("---" for _ in _HEAD) + "|"]
            lines += ["| " + " | ".join(_cells(r)) + " |" for r in self.rows]
        if self.extras:
            lines += ["", "| main case | measured |", "|---|---|"]
            lines += [f"| {what} | {value} |" for what, value in self.extras]
        if self.missing:
            lines += ["", "Missing values (`nan_policy='marginalize'`) on the main case's "
                      "data, full and diag covariance: seconds per iteration as above, "
                      "fastgmm only, every fit from the same initial parameters, of (a) the "
                      "complete data, (b) the same data with each entry missing with "
                      "probability 0.1, (c) with 30% of the rows missing the same 4 "
                      "columns; goal: (b)/(a) and (c)/(a) at most "
                      + ", ".join(f"{r['goal']:g}x for {r['covariance']}" for r in
                                  {r["covariance"]: r for r in self.missing}.values())
                      + ".", "",
                      "| " + " | ".join(_MISSING_HEAD) + " |",
                      "|" + "|".join("---" for _ in _MISSING_HEAD) + "|"]
            lines += ["| " + " | ".join(_missing_cells(r)) + " |" for r in self.missing]
        return "\n".join(lines) + "\n"

    def png(self, path):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = [r for r in self.rows if np.isfinite(r["speedup"])]
        names = [f"{r['case']}\n{r['dtype']}\nsep {r['separation']:g}" for r in rows]
        x = np.arange(len(names))
        fig, ax = plt.subplots(figsize=(1.3 * len(names) + 2, 4))
        ax.bar(x, [r["speedup"] for r in rows], 0.6, label="measured speedup",
               color=["tab:green" if r["speedup"] >= r["goal"] else "tab:orange"
                      for r in rows])
        ax.scatter(x, [r["goal"] for r in rows], marker="_", s=900, color="black",
                   zorder=3, label="goal")
        ax.set_xticks(x, names)
        ax.set_ylabel("speedup over scikit-learn (per EM iteration)")
        ax.set_title(f"fastgmm vs scikit-learn, {self.info['cores']} cores")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
