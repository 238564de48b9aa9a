"""Data sources: arrays and memmaps, partitioned sources (memmap partitions, Dask chunks)."""
