"""From a retailer's catalog files to a clean, packed training set: store, ingest, prune, pack."""
