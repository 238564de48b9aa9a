"""Model math in NumPy: statistics, M-steps, Cholesky factors, checks of user parameters and of fitted attributes, far points."""
