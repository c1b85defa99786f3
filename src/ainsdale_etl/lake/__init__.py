"""The lake: the star as Apache Iceberg tables in the processed bucket, one snapshot per batch.

After a batch is loaded, each star table it changed gets one Iceberg commit whose snapshot
summary names the batch (:mod:`.sync`): facts append the versions the warehouse gained,
dimensions are rewritten for the ids the batch touched, from the warehouse's current rows.
Tables are catalogued in SQLite (embedded), Glue (production) or any pyiceberg catalog
(:mod:`.catalog`); :mod:`.maintain` expires old snapshots and compacts small files.
"""
