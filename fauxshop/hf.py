"""Hugging Face transformers, imported the quiet way for every model that uses it.

The text writer (text/) and the tagger's MiniLM text branch (tagger/) both load transformers
models; its info logs and save/load progress bars are noise in fauxshop's output, so both
import it through here. The import is deferred to the call: it takes seconds.
"""

from __future__ import annotations


def transformers_quietly():
    """The transformers module with its info logs and save/load bars off: noise in our output."""
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    return transformers
