"""Inference in batches: read a table a bounded slice at a time, predict, write as it goes.

- `sources`: a table cut into partitions (Parquet row groups, CSV line ranges, the sample).
- `parts`: the work folder beside the output: a manifest, one part file a partition written
  atomically, resume.
- `output`: the output written from the parts, in order, as they are written.
- `predict`: one partition read, checked, predicted and written (a Dask task runs several).
- `engine`: the partitions run in this process or on Dask, with progress.
- `cluster`: the partitions as tasks on Dask's distributed scheduler, a local cluster.

Heavy libraries (pandas, pyarrow, mlflow, distributed) are imported inside the functions.
"""
