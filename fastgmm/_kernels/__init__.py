"""The Numba kernels, their compilation and cache, and the passes that run them."""
