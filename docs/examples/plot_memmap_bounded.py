"""
A memmap larger than a memory bound
===================================

A ``numpy.memmap`` is fitted in place, a bounded block of rows at a time:
the memory the fit needs does not grow with the file. Here a 92 MiB file of
float32 points is fitted by a process whose own memory (its anonymous
resident memory: NumPy's and Numba's allocations, not the file's pages,
which the operating system can drop and re-read) must stay under a bound of
32 MiB above what it held before the fit.

The fit runs in a child process watched from outside every 2 ms, so no
peak is missed while a kernel runs. Reading ``/proc`` needs Linux; elsewhere
the example only fits.
"""

import os
import subprocess
import sys
import tempfile
import time

import matplotlib.pyplot as plt
import numpy as np

MiB = 2**20
BOUND = 32 * MiB
n, d = 3_000_000, 8  # 3,000,000 x 8 float32 = 91.6 MiB

# %%
# Write the file a slice at a time (never all of it in memory): four
# clusters in 8 dimensions.
folder = tempfile.mkdtemp()
path = os.path.join(folder, "points.f32")
rng = np.random.default_rng(0)
centres = rng.normal(scale=4.0, size=(4, d)).astype(np.float32)
X = np.memmap(path, dtype=np.float32, mode="w+", shape=(n, d))
for start in range(0, n, 500_000):
    stop = min(start + 500_000, n)
    X[start:stop] = (centres[rng.integers(0, 4, stop - start)]
                     + rng.standard_normal((stop - start, d), dtype=np.float32))
X.flush()
del X
print(f"file: {n:,} x {d} float32 = {os.path.getsize(path) / MiB:.1f} MiB; "
      f"bound: {BOUND / MiB:.0f} MiB")

# %%
# The child opens the file read-only and fits it once to load (or, on a
# first run, compile) every kernel the fit uses, so that compiling is not
# counted. It then says "ready" and, when told to, fits the file again from
# another seed: that is the fit measured. ``MALLOC_MMAP_THRESHOLD_`` makes
# the C library hand every large block back to the system when it is freed,
# so memory the first fit freed cannot hide what the second one needs.
CHILD = """
import sys
import numpy as np
from fastgmm import GaussianMixture

path, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
X = np.memmap(path, dtype=np.float32, mode="r", shape=(n, d))
params = dict(n_components=4, covariance_type="diag", init_params="k-means++")
GaussianMixture(random_state=1, **params).fit(X)  # loads or compiles the kernels
print("ready", flush=True)
sys.stdin.readline()
gm = GaussianMixture(random_state=0, **params).fit(X)
print(gm.n_iter_, gm.converged_, flush=True)
"""


def rss_anon(pid):
    """Anonymous resident memory of a process, in bytes (None once it ended)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


child = subprocess.Popen([sys.executable, "-c", CHILD, path, str(n), str(d)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         env=dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(128 * 1024)))
assert child.stdout.readline().strip() == "ready"
baseline = rss_anon(child.pid)
child.stdin.write("go\n")
child.stdin.flush()
start, trace = time.perf_counter(), []
while child.poll() is None:
    value = rss_anon(child.pid)
    if value is not None and baseline is not None:
        trace.append((time.perf_counter() - start, (value - baseline) / MiB))
    time.sleep(0.002)
n_iter, converged = child.stdout.read().split()
assert child.returncode == 0
print(f"fit: {n_iter} EM iterations, converged: {converged}")

# %%
# The memory the fit needed above what the process held before it.
if trace:
    times, extra = np.array(trace).T
    print(f"peak: {extra.max():.1f} MiB above the {baseline / MiB:.0f} MiB "
          "held before the fit")
    assert extra.max() * MiB < BOUND, "the fit went over the bound"
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    ax.plot(times, extra, label="fit's memory (RssAnon above before)")
    ax.axhline(BOUND / MiB, color="tab:red", ls="--",
               label=f"bound, {BOUND / MiB:.0f} MiB")
    ax.axhline(os.path.getsize(path) / MiB, color="tab:gray", ls=":",
               label=f"file, {os.path.getsize(path) / MiB:.0f} MiB")
    ax.set_xlabel("seconds into the fit")
    ax.set_ylabel("MiB")
    ax.set_ylim(0, os.path.getsize(path) / MiB * 1.15)
    ax.legend(loc="center right")
    ax.set_title("Fitting a memmap in bounded memory")
    fig.tight_layout()
    plt.show()
else:
    print("no /proc here: memory not measured")

os.remove(path)
os.rmdir(folder)
