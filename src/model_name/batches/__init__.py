"""Inference in batches: read a table a bounded slice at a time, predict, write as it goes.

- `sources`: a table cut into partitions (Parquet row groups, CSV line ranges, the sample).
- `parts`: the work folder beside the output: a manifest, one part file a partition written
  atomically, resume, and the final output assembled from the parts.
- `predict`: one partition read, checked, predicted and written (what a Dask task runs).
- `engine`: the partitions run in this process, with progress.
- `cluster`: the same partitions as tasks on Dask's distributed scheduler.

Heavy libraries (pandas, pyarrow, mlflow, distributed) are imported inside the functions.
"""
