"""The EM drivers: the estimators' n_init / EM loop, stepwise EM, fit_many's lockstep EM."""
