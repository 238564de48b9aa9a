"""The order of the example gallery: from a first fit to the speed comparison."""

ORDER = [
    "plot_first_fit.py",
    "plot_bic_selection.py",
    "plot_bayesian_pruning.py",
    "plot_memmap_bounded.py",
    "plot_streaming.py",
    "plot_fit_many.py",
    "plot_speed_comparison.py",
]


class ExampleOrder:
    """sphinx-gallery sort key: the examples in ``ORDER``, then any others by name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        index = ORDER.index(filename) if filename in ORDER else len(ORDER)
        return (index, filename)
