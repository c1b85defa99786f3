"""Stage 3, load: a transformed batch into the warehouse, in one transaction with its ledger row."""
