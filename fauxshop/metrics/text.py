"""Text-quality metrics for generated product descriptions.

A description is written from a context built from the photo's tags ("sleeveless red dress").
These metrics say whether the context's attribute words come back in the text
(`attribute_coverage`), whether the text contradicts the tags (`contradictions`), how varied
the texts are (`distinct_n`), and whether a text is copied from the training catalog
(`TrainingIndex`). `text_metrics` gathers them for one model; `format_table` sets models side
by side.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from fauxshop.catalog.taxonomy import find_mentions
from fauxshop.markdown import markdown_table

# A run of letters/digits; an apostrophe or hyphen *between* two runs stays inside the word.
_WORD_RE = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")
_PAD = -2  # pads a training text in the DP batch; never equal to a word id or an unknown (-1)
_FIRST_BATCH = 32  # candidates in the first DP batch; later batches double, up to _MAX_BATCH
_MAX_BATCH = 1024


def words(text: str) -> list[str]:
    """The lowercase word tokens every metric shares.

    A word is a run of letters or digits; an apostrophe or hyphen between two runs stays inside
    it ("women's", "knee-length", "v-neck"); anything else separates words and is dropped, so
    "100%" gives "100", "3.5" gives "3", "5" and "'90s" gives "90s". A curly apostrophe counts
    as a straight one.
    """
    return _WORD_RE.findall(text.lower().replace("\u2019", "'"))


def _ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """The contiguous n-grams of one token list."""
    return list(zip(*(tokens[i:] for i in range(n)), strict=False))


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Unique word n-grams / all word n-grams over all texts together (Li et al. 2016).

    N-grams never span two texts. 0.0 when the texts hold no n-gram.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    unique: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        grams = _ngrams(words(text), n)
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else 0.0


def _pairs(mentions: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(attribute, value) pairs of a find_mentions result."""
    return {(attribute, value) for attribute, values in mentions.items() for value in values}


def attribute_coverage(context: str, text: str) -> float | None:
    """Share of the (attribute, value) pairs named by `context` that `text` also names.

    None when the context names no attribute value.
    """
    wanted = _pairs(find_mentions(context))
    if not wanted:
        return None
    return len(wanted & _pairs(find_mentions(text))) / len(wanted)


def contradictions(context: str, text: str) -> dict[str, set[str]]:
    """Per attribute named by `context`, the values `text` names for it that the context doesn't.

    Attributes the context leaves open are never contradicted; {} when nothing contradicts.
    """
    said = find_mentions(text)
    found: dict[str, set[str]] = {}
    for attribute, values in find_mentions(context).items():
        extra = said.get(attribute, set()) - values
        if extra:
            found[attribute] = extra
    return found


def _normalise(text: str) -> str:
    """Lowercased, whitespace runs collapsed to one space, ends stripped."""
    return " ".join(text.lower().split())


class TrainingIndex:
    """How much of a text is copied from the training descriptions; built once, queried often.

    `longest_shared_ngram` is exact (the same answer as a longest-common-substring DP of the
    text's words against every training text):

    - Every k-gram (k = 1..n) lying inside one training text gets an id. A text shares a run
      of k words with some training text iff one of its k-grams has an id, so when it shares
      no n-gram the answer (< n) is the largest k found by lookup alone, with no DP.
    - Otherwise the answer is >= n and the candidates are the training texts holding one of its
      n-grams (inverted index n-gram -> texts); every other text shares less than n words.
      For a candidate, mark the text's n-gram positions that occur in it: a shared run of L >= n
      words covers L - n + 1 consecutive marked positions, so (longest marked run) + n - 1 is
      an upper bound on what it shares. Candidates are checked by an exact DP over word ids,
      in batches, highest bound first, and the search stops once the best length found reaches
      the next candidate's bound.

    There is no fixed cap on the candidates checked: the bound is what keeps it fast (usually
    one batch) without giving up exactness. The worst case, many candidates whose bound is far
    above what they share, costs one batched DP over all candidates, still well under a second
    for ~5,000 texts of ~120 words.
    """

    def __init__(self, texts: Iterable[str], n: int = 4) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.n = n
        self._vocab: dict[str, int] = {}
        self._copies: set[str] = set()
        docs: list[list[int]] = []
        for text in texts:
            self._copies.add(_normalise(text))
            docs.append([self._vocab.setdefault(w, len(self._vocab)) for w in words(text)])
        lengths = np.array([len(d) for d in docs], dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self._flat = np.fromiter((w for d in docs for w in d), np.int64, int(self._offsets[-1]))
        self._build_grams(lengths)

    def __len__(self) -> int:
        """Number of training texts."""
        return len(self._offsets) - 1

    def _build_grams(self, lengths: np.ndarray) -> None:
        """Ids for every in-text k-gram (k = 2..n) and the n-gram -> texts inverted index."""
        flat, vocab_size, n_docs = self._flat, max(len(self._vocab), 1), max(len(self), 1)
        doc_of = np.repeat(np.arange(len(lengths)), lengths)
        # words from each position to the end of its own text, that position included
        left = self._offsets[1:][doc_of] - np.arange(len(flat))
        gram = flat  # id of the k-gram starting at each position (-1 where it doesn't fit)
        self._keys: list[np.ndarray] = []  # level k: sorted keys (id of (k-1)-gram, last word)
        for k in range(2, self.n + 1):
            pos = np.nonzero(left >= k)[0]
            keys, ids = np.unique(gram[pos] * vocab_size + flat[pos + k - 1], return_inverse=True)
            self._keys.append(keys)
            gram = np.full(len(flat), -1, dtype=np.int64)
            gram[pos] = ids.reshape(-1)
        n_grams = len(self._keys[-1]) if self._keys else len(self._vocab)
        pos = np.nonzero(left >= self.n)[0]
        pairs = np.unique(gram[pos] * n_docs + doc_of[pos])  # sorted by gram, then text
        self._post_docs = pairs % n_docs
        self._post_start = np.searchsorted(pairs // n_docs, np.arange(n_grams + 1))

    def _word_ids(self, text: str) -> np.ndarray:
        """Word ids of a text; -1 for a word no training text holds."""
        return np.array([self._vocab.get(w, -1) for w in words(text)], dtype=np.int64)

    def _gram_levels(self, ids: np.ndarray) -> list[np.ndarray]:
        """Per k = 1, 2, ... (to n, while any is known): the k-gram id at each position, or -1."""
        levels = [ids]
        vocab_size = max(len(self._vocab), 1)
        for keys in self._keys:
            prev, last = levels[-1][:-1], ids[len(levels) :]
            if not len(keys) or not len(prev):
                break
            key = prev * vocab_size + last
            at = np.minimum(np.searchsorted(keys, key), len(keys) - 1)
            found = (prev >= 0) & (last >= 0) & (keys[at] == key)
            if not found.any():
                break
            levels.append(np.where(found, at, -1))
        return levels

    def longest_shared_ngram(self, text: str) -> int:
        """Length in words of the longest word run `text` shares with any single training text."""
        ids = self._word_ids(text)
        levels = self._gram_levels(ids)
        shared = max((k for k, g in enumerate(levels, 1) if (g >= 0).any()), default=0)
        if shared < self.n:
            return shared
        return self._longest_from_candidates(ids, levels[-1])

    def _longest_from_candidates(self, ids: np.ndarray, grams: np.ndarray) -> int:
        """Exact longest shared run (>= n) by bounded, batched DP over the n-gram candidates."""
        positions = np.nonzero(grams >= 0)[0]
        postings = [
            self._post_docs[self._post_start[g] : self._post_start[g + 1]] for g in grams[positions]
        ]
        candidates = np.unique(np.concatenate(postings))
        marked = np.zeros((len(candidates), len(grams)), dtype=bool)
        for p, docs in zip(positions, postings, strict=True):
            marked[np.searchsorted(candidates, docs), p] = True
        run = np.zeros(len(candidates), dtype=np.int64)
        longest = np.zeros(len(candidates), dtype=np.int64)
        for column in marked.T:
            run = np.where(column, run + 1, 0)
            np.maximum(longest, run, out=longest)
        bound = longest + self.n - 1
        order = np.argsort(-bound, kind="stable")
        best, start, size = self.n, 0, _FIRST_BATCH
        while start < len(order) and bound[order[start]] > best:
            batch = order[start : start + size]
            batch = batch[bound[batch] > best]
            best = max(best, self._longest_common_run(ids, candidates[batch]))
            start, size = start + size, min(2 * size, _MAX_BATCH)
        return best

    def _longest_common_run(self, ids: np.ndarray, docs: np.ndarray) -> int:
        """Longest common substring (in words) of `ids` with any of the training texts `docs`."""
        spans = [self._flat[self._offsets[d] : self._offsets[d + 1]] for d in docs]
        table = np.full((len(spans), max(len(s) for s in spans)), _PAD, dtype=np.int64)
        for row, span in enumerate(spans):
            table[row, : len(span)] = span
        run = np.zeros((len(spans), table.shape[1] + 1), dtype=np.int64)
        best = 0
        for word in ids:
            if word < 0:
                run[:] = 0
                continue
            run[:, 1:] = (table == word) * (run[:, :-1] + 1)
            best = max(best, int(run.max()))
        return best

    def is_copy(self, text: str) -> bool:
        """Whether `text` equals a training text once lowercased and whitespace-collapsed."""
        return _normalise(text) in self._copies


def _mean(values: Sequence[float]) -> float | None:
    """Arithmetic mean, None for no values."""
    return sum(values) / len(values) if values else None


def text_metrics(
    samples: Sequence[tuple[str, str]], index: TrainingIndex
) -> dict[str, float | int | None]:
    """All text metrics over (context, generated text) pairs.

    Coverage and contradiction rate count only samples whose context names an attribute value
    (`coverage_samples` of them); a rate with nothing to count is None.
    """
    texts = [text for _, text in samples]
    coverages: list[float] = []
    contradicted = 0
    for context, text in samples:
        coverage = attribute_coverage(context, text)
        if coverage is not None:
            coverages.append(coverage)
            contradicted += bool(contradictions(context, text))
    shared = [index.longest_shared_ngram(text) for text in texts]
    copies = sum(index.is_copy(text) for text in texts)
    return {
        "samples": len(samples),
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "attribute_coverage": _mean(coverages),
        "coverage_samples": len(coverages),
        "contradiction_rate": contradicted / len(coverages) if coverages else None,
        "longest_shared_ngram_mean": _mean(shared),
        "longest_shared_ngram_max": max(shared, default=None),
        "copy_rate": copies / len(texts) if texts else None,
    }


def format_table(rows: dict[str, dict[str, float | int | None]]) -> str:
    """A markdown table: one row per run name, one column per metric (missing ones as "-")."""
    return markdown_table([{"run": name, **metrics} for name, metrics in rows.items()])
