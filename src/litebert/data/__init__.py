"""Pretraining data: instances (the algorithm), text (inputs), shards (disk layout, reader), masking (dynamic)."""
