"""Other EM implementations that ``fastgmm bench`` times next to fastgmm."""
