"""Files: the model-file format and the data files of the command line."""
