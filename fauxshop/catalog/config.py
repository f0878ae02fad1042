"""The catalog verbs' settings: the prune rules' thresholds, how images are downloaded, and
the feed formats `ingest` reads. Every field is a flag, saved with each run.

Light on purpose (no numpy, pyarrow, scipy or torch), so the CLI builds `--help` at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from fauxshop.catalog.images import DEFAULT_MAX_BYTES
from fauxshop.config_args import help_field

FEED_FORMATS = ("auto", "table", "shopify", "merchant")  # what `ingest --format` reads


@dataclass
class PruneConfig:
    min_side: int = help_field("size: shortest image side in pixels a photo must have", 300)
    work_side: int = help_field("longest side of the copy the rules measure on", 128)
    foreground_distance: float = help_field(
        "RGB distance from the backdrop colour above which a pixel is foreground", 20.0
    )
    blank_max_ink: float = help_field(
        "non_product: at most this share of foreground pixels means nothing is pictured", 0.02
    )
    plain_border_min: float = help_field(
        "background: share of border pixels matching the backdrop for it to count as plain", 0.68
    )
    texture_similarity_min: float = help_field(
        "non_product: centre looking at least this much like the border means fabric only", 0.5
    )
    object_share_min: float = help_field(
        "non_product: below this share of foreground in one piece, it is a print, not a product",
        0.75,
    )
    max_offset: float = help_field(
        "composition: product box centre at most this far from the image centre (share of side)",
        0.12,
    )
    max_centroid_offset: float = help_field(
        "composition: centroid at most this far from the centre (lopsided shoes are fine)",
        0.25,
    )
    batch_size: int = help_field("verdicts written per store transaction", 256)


@dataclass(frozen=True)
class DownloadConfig:
    """How images named by URL are fetched; every field is an `ingest` flag."""

    workers: int = help_field("downloads at once, all hosts together", 16)
    per_host: int = help_field("requests at once to one host", 4)
    timeout_s: float = help_field("seconds to connect, and between two reads", 10.0)
    deadline_s: float = help_field("seconds one download attempt may take in all", 120.0)
    retries: int = help_field("attempts after the first on connection errors, 5xx, 429", 3)
    backoff_s: float = help_field("seconds before retry k: this * 2**k, with jitter", 0.5)
    max_bytes: int = help_field("refuse a download over this many bytes", DEFAULT_MAX_BYTES)
    max_redirects: int = help_field("redirects followed before giving up", 5)
    allow_private_hosts: bool = help_field(
        "fetch from loopback, private, link-local (cloud metadata) addresses too", False
    )
