"""Memory of a fit: about the size of ``X``, never an ``n x k`` array.

``peakmem_fit`` is asv's peak resident memory of the whole benchmark
process (interpreter, libraries and ``X`` included). ``track_extra_over_X``
isolates the fit: peak resident memory during the fit minus the resident
memory just before it, divided by ``X.nbytes`` (Linux: the peak is reset
through ``/proc/self/clear_refs``). For reference, one ``n x k`` float64
array is ``k / d = 1`` times the size of ``X`` here.
"""

from .common import fit, fixed_init, make_data, warm

N_SAMPLES = 1_000_000
N_FEATURES = 16
N_COMPONENTS = 16
N_ITER = 2
TINY = {"N_SAMPLES": 500}  # used by tests/test_asv.py


def _status_kib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


class FitMemory:
    params = (["full", "diag"],)
    param_names = ["covariance_type"]
    timeout = 300

    def setup(self, covariance_type):
        d, k = N_FEATURES, N_COMPONENTS
        warm(d, k, covariance_type)
        self.X = make_data(N_SAMPLES, d, k)
        self.init = fixed_init(d, k, covariance_type)

    def peakmem_fit(self, covariance_type):
        fit(self.X, N_COMPONENTS, covariance_type, N_ITER, self.init)

    def track_extra_over_X(self, covariance_type):
        try:
            before = _status_kib("VmRSS")
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset the peak (VmHWM) to the current RSS
        except (OSError, KeyError):
            return float("nan")  # not Linux: no resettable peak
        fit(self.X, N_COMPONENTS, covariance_type, N_ITER, self.init)
        return (_status_kib("VmHWM") - before) * 1024 / self.X.nbytes

    track_extra_over_X.unit = "x size of X"
