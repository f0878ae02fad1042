"""Latent-space tools for a trained generator: sample, mix styles, walk.

Every tool turns seeds into the same z (`sampling.z_from_seed`) and runs in fixed-size
batches, so a seed names one image across `generate`, `mix` and `walk`.
"""
