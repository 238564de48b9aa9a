"""
First fit
=========
"""
import fastgmm
print(fastgmm.__version__)
