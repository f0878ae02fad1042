"""Image-quality metrics for generators: FID, KID and precision/recall in Inception space.

`inception` turns images into 2048-d Inception-v3 pool features; `fid` holds the feature
statistics, the metrics computed from them, their caching for real archives, and the
`compute_metrics` entry point used by the trainer and the `fauxshop metrics` verb.
"""
