"""The WordNet wild corpus of negative-label candidates (docs/methods.md §1).

Prompt templates and prompt assembly live in :mod:`ood_core.text.prompts`.

One candidate per synset of the selected lexicographer files: the synset's first lemma,
lower-cased, ``_`` -> space, adjective marker (``(a)``, ``(p)``, ``(ip)``) removed. Candidates are
deduplicated over the whole pool, first occurrence wins, visiting the lexnames in Python's
``sorted()`` order (so ``adj.*`` comes before ``noun.*``, and ``noun.Tops`` before ``noun.act``) and,
within one lexname, data-file order. Adjective satellites (``pos == "s"``) belong to ``adj.all``.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ood_core.text import wordnet as _wn

__all__ = [
    "DEFAULT_NOUN_LEXNAMES",
    "DEFAULT_ADJ_LEXNAMES",
    "Corpus",
    "load_wordnet_corpus",
]

DEFAULT_NOUN_LEXNAMES = (
    "noun.Tops", "noun.act", "noun.artifact", "noun.attribute", "noun.body", "noun.cognition",
    "noun.communication", "noun.event", "noun.feeling", "noun.location", "noun.motive",
    "noun.object", "noun.phenomenon", "noun.plant", "noun.possession", "noun.process",
    "noun.relation", "noun.shape", "noun.state", "noun.substance", "noun.time",
)
DEFAULT_ADJ_LEXNAMES = ("adj.all", "adj.ppl")

_NOUN_LEXNAMES = tuple(sorted(n for n in _wn.LEXNAMES.values() if n.startswith("noun.")))
_ADJ_LEXNAMES = tuple(sorted(n for n in _wn.LEXNAMES.values() if n.startswith("adj.")))
_TSV_HEADER = ("word", "pos", "lexname", "offset")


@dataclass
class Corpus:
    """A wild corpus of candidate labels, in corpus order.

    words : [M] candidate words (cleaned lemmas).
    is_adj : [M] bool, True for adjectives (from data.adj), False for nouns (data.noun).
    lexnames : [M] lexicographer file of the synset each word came from, e.g. ``"noun.plant"``.
    offsets : [M] int64, the synset offset (in data.adj when ``is_adj`` else data.noun) that
        produced each word.
    """

    words: list[str]
    is_adj: np.ndarray
    lexnames: list[str]
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def __post_init__(self) -> None:
        self.is_adj = np.asarray(self.is_adj, dtype=bool)
        self.offsets = np.asarray(self.offsets, dtype=np.int64)
        n = len(self.words)
        for name, value in (("is_adj", self.is_adj), ("lexnames", self.lexnames), ("offsets", self.offsets)):
            if len(value) != n:
                raise ValueError(f"Corpus.{name} has {len(value)} entries but words has {n}")

    def __len__(self) -> int:
        return len(self.words)

    @property
    def n_adj(self) -> int:
        return int(self.is_adj.sum())

    @property
    def n_noun(self) -> int:
        return len(self) - self.n_adj

    def save(self, path: str | os.PathLike) -> None:
        """Write a UTF-8 TSV with header ``word pos lexname offset`` (pos ``n``/``a``), one row per word."""
        with open(path, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
            writer.writerow(_TSV_HEADER)
            for word, adj, lexname, offset in zip(self.words, self.is_adj, self.lexnames, self.offsets):
                writer.writerow((word, "a" if adj else "n", lexname, int(offset)))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Corpus":
        """Read a TSV written by ``save``."""
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh, delimiter="\t"))
        if not rows or tuple(rows[0]) != _TSV_HEADER:
            raise ValueError(f"{path}: not a corpus TSV (expected the tab-separated header {_TSV_HEADER})")
        body = rows[1:]
        bad = [r for r in body if len(r) != 4 or r[1] not in ("n", "a")]
        if bad:
            raise ValueError(f"{path}: malformed row {bad[0]!r} (expected word, pos n|a, lexname, offset)")
        return cls(words=[r[0] for r in body], is_adj=np.array([r[1] == "a" for r in body], dtype=bool),
                   lexnames=[r[2] for r in body],
                   offsets=np.array([int(r[3]) for r in body], dtype=np.int64))


def _check_lexnames(argument: str, names: Sequence[str], valid: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(names, str):
        raise ValueError(f"{argument}={names!r} must be a list of lexnames, not one string")
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise ValueError(f"{argument}: unknown lexname(s) {unknown}; valid: {list(valid)}")
    return tuple(names)


def load_wordnet_corpus(wordnet_dir: str | os.PathLike | None = None,
                        noun_lexnames: Sequence[str] | None = None,
                        adj_lexnames: Sequence[str] | None = None) -> Corpus:
    """Build the wild corpus from WordNet 3.0 (docs/methods.md §1).

    wordnet_dir : directory of the dictionary files (None: see ``wordnet.resolve_wordnet_dir``).
    noun_lexnames / adj_lexnames : lexicographer files to include (None: the defaults,
        ``DEFAULT_NOUN_LEXNAMES`` / ``DEFAULT_ADJ_LEXNAMES``). With the defaults on Debian's WordNet 3.0
        the corpus holds 46,446 nouns + 11,047 adjectives (see tests/test_corpus.py).
    """
    noun_names = _check_lexnames("noun_lexnames", DEFAULT_NOUN_LEXNAMES if noun_lexnames is None
                                 else noun_lexnames, _NOUN_LEXNAMES)
    adj_names = _check_lexnames("adj_lexnames", DEFAULT_ADJ_LEXNAMES if adj_lexnames is None
                                else adj_lexnames, _ADJ_LEXNAMES)
    by_lexname: dict[str, list[_wn.Synset]] = {}
    for pos_file, wanted in (("n", noun_names), ("a", adj_names)):
        wanted_set = set(wanted)
        for synset in _wn.read_synsets(pos_file, wordnet_dir).values():
            if synset.lexname in wanted_set:
                by_lexname.setdefault(synset.lexname, []).append(synset)

    words: list[str] = []
    is_adj: list[bool] = []
    lexnames: list[str] = []
    offsets: list[int] = []
    seen: set[str] = set()
    for lexname in sorted(set(noun_names) | set(adj_names)):
        for synset in by_lexname.get(lexname, ()):
            word = _wn.clean_lemma(synset.lemmas[0])
            if word in seen:
                continue
            seen.add(word)
            words.append(word)
            is_adj.append(synset.pos in ("a", "s"))
            lexnames.append(lexname)
            offsets.append(synset.offset)
    return Corpus(words=words, is_adj=np.array(is_adj, dtype=bool), lexnames=lexnames,
                  offsets=np.array(offsets, dtype=np.int64))
