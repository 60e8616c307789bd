"""Reading and checking the data files of dataset repositories (JSON Lines, CSV/TSV, Parquet).

Pure modules: file handles in, reports and rows out; no ORM. pyarrow is imported inside the functions
that need it, so that Django starts without it.
"""
