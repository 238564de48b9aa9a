"""Initialisation: initial responsibilities and their statistics, for every data source."""
