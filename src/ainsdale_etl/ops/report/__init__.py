"""The report: charts and a page of the warehouse's story (entry point: :mod:`.write`)."""
