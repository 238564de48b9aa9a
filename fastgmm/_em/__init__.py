"""The EM drivers: BaseMixture's EM loop, stepwise EM, fit_many's lockstep EM, re-seeding, all-or-nothing public methods."""
