"""A small reader for the WordNet 3.0 dictionary files (``data.noun``, ``data.adj``, ``index.*``).

No nltk dependency: the files are parsed directly (format: ``wndb(5WN)``). A data line is

    offset lex_filenum ss_type w_cnt (word lex_id){w_cnt} p_cnt (symbol offset pos src_tgt){p_cnt} ... | gloss

with ``w_cnt`` two hex digits and ``p_cnt`` three decimal digits. Offsets are byte offsets into the
file they come from, so a noun and an adjective can share an offset: always key synsets by
``(pos_file, offset)`` where ``pos_file`` is ``"n"`` (data.noun) or ``"a"`` (data.adj; its synsets
have ``pos`` ``"a"`` heads or ``"s"`` satellites).

Parsed files are cached per directory (``functools.lru_cache``); parsing ``data.noun`` (82,115
synsets) takes about a second.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

__all__ = [
    "LEXNAMES",
    "Synset",
    "resolve_wordnet_dir",
    "read_synsets",
    "read_index",
    "clean_lemma",
    "hypernym_closure",
    "hyponym_closure",
]

# lexicographer file number -> name, as in lexnames(5WN).
LEXNAMES: dict[int, str] = {
    0: "adj.all", 1: "adj.pert", 2: "adv.all", 3: "noun.Tops", 4: "noun.act", 5: "noun.animal",
    6: "noun.artifact", 7: "noun.attribute", 8: "noun.body", 9: "noun.cognition",
    10: "noun.communication", 11: "noun.event", 12: "noun.feeling", 13: "noun.food",
    14: "noun.group", 15: "noun.location", 16: "noun.motive", 17: "noun.object",
    18: "noun.person", 19: "noun.phenomenon", 20: "noun.plant", 21: "noun.possession",
    22: "noun.process", 23: "noun.quantity", 24: "noun.relation", 25: "noun.shape",
    26: "noun.state", 27: "noun.substance", 28: "noun.time", 29: "verb.body", 30: "verb.change",
    31: "verb.cognition", 32: "verb.communication", 33: "verb.competition",
    34: "verb.consumption", 35: "verb.contact", 36: "verb.creation", 37: "verb.emotion",
    38: "verb.motion", 39: "verb.perception", 40: "verb.possession", 41: "verb.social",
    42: "verb.stative", 43: "verb.weather", 44: "adj.ppl",
}

_POS_FILES = {"n": "noun", "a": "adj"}
_ADJ_MARKERS = ("(a)", "(p)", "(ip)")


@dataclass(frozen=True)
class Synset:
    """One synset line of a WordNet data file.

    offset : byte offset in its data file (the synset id; ImageNet wnid ``n%08d``).
    pos : ``"n"`` noun, ``"a"`` adjective head, ``"s"`` adjective satellite.
    lexname : lexicographer file name, e.g. ``"noun.artifact"``.
    lemmas : the words as written in the file (underscores, case and adjective markers like
        ``"galore(ip)"`` kept); ``clean_lemma`` turns one into a candidate word.
    hypernyms : offsets (same file) of ``@`` hypernyms and ``@i`` instance hypernyms.
    hyponyms : offsets of ``~`` hyponyms and ``~i`` instance hyponyms.
    similar_to : offsets of ``&`` pointers (a satellite's head adjective and vice versa).
    is_instance : True when the synset has an ``@i`` pointer (a named instance, e.g. a city).
    """

    offset: int
    pos: str
    lexname: str
    lemmas: tuple[str, ...]
    hypernyms: tuple[int, ...]
    hyponyms: tuple[int, ...]
    similar_to: tuple[int, ...]
    is_instance: bool


def clean_lemma(lemma: str) -> str:
    """``"Out_of_reach(p)"`` -> ``"out of reach"``: lower-case, ``_`` -> space, adjective marker removed."""
    for marker in _ADJ_MARKERS:
        if lemma.endswith(marker):
            lemma = lemma[: -len(marker)]
            break
    return lemma.replace("_", " ").lower()


def _is_wordnet30(directory: Path) -> bool:
    """True when ``directory`` holds WordNet 3.0's data.noun and data.adj (checked on the license header)."""
    for name in ("data.noun", "data.adj"):
        path = directory / name
        if not path.is_file():
            return False
        with open(path, encoding="utf-8", errors="replace") as fh:
            header = "".join(fh.readline() for _ in range(40))
        if "WordNet 3.0" not in header:
            return False
    return True


def _nltk_candidate_dirs() -> list[Path]:
    try:
        import nltk.data  # optional: only its search path is used

        roots = [Path(p) for p in nltk.data.path]
    except ImportError:
        home = Path.home()
        roots = [home / "nltk_data", Path("/usr/share/nltk_data"), Path("/usr/local/share/nltk_data"),
                 Path("/usr/lib/nltk_data"), Path("/usr/local/lib/nltk_data")]
    return [root / "corpora" / "wordnet" for root in roots]


def resolve_wordnet_dir(wordnet_dir: str | os.PathLike | None = None) -> Path:
    """The directory of the WordNet 3.0 dictionary files to read.

    Search order: ``wordnet_dir`` (when given, it must qualify), ``$WNSEARCHDIR``, NLTK's data path
    (``<entry>/corpora/wordnet``), ``/usr/share/wordnet``. A directory qualifies when it holds
    ``data.noun`` and ``data.adj`` whose header names WordNet 3.0.
    """
    if wordnet_dir is not None:
        path = Path(wordnet_dir).expanduser()
        if _is_wordnet30(path):
            return path
        raise FileNotFoundError(
            f"wordnet_dir={str(wordnet_dir)!r} does not hold WordNet 3.0 data.noun and data.adj "
            "(with the 'WordNet 3.0' license header). Install them with `apt-get install wordnet-base` "
            "(-> /usr/share/wordnet) or `python -c \"import nltk; nltk.download('wordnet')\"`, "
            "or pass wordnet_dir=None to search the usual places."
        )
    candidates: list[Path] = []
    if os.environ.get("WNSEARCHDIR"):
        candidates.append(Path(os.environ["WNSEARCHDIR"]).expanduser())
    candidates += _nltk_candidate_dirs()
    candidates.append(Path("/usr/share/wordnet"))
    for path in candidates:
        if _is_wordnet30(path):
            return path
    looked = "\n  ".join(str(p) for p in candidates)
    raise FileNotFoundError(
        "No WordNet 3.0 dictionary files (data.noun, data.adj) found. Looked in:\n  " + looked
        + "\nInstall them with `apt-get install wordnet-base` (-> /usr/share/wordnet) or "
        "`python -c \"import nltk; nltk.download('wordnet')\"`, or set $WNSEARCHDIR."
    )


def _parse_data_line(line: str) -> Synset:
    fields = line.split(" | ", 1)[0].split()
    offset = int(fields[0])
    lexname = LEXNAMES[int(fields[1])]
    pos = fields[2]
    n_words = int(fields[3], 16)
    lemmas = tuple(fields[4 : 4 + 2 * n_words : 2])
    i = 4 + 2 * n_words
    n_ptrs = int(fields[i])
    hypernyms, hyponyms, similar = [], [], []
    is_instance = False
    for j in range(i + 1, i + 1 + 4 * n_ptrs, 4):
        symbol, target = fields[j], int(fields[j + 1])
        if symbol == "@" or symbol == "@i":
            hypernyms.append(target)
            is_instance = is_instance or symbol == "@i"
        elif symbol == "~" or symbol == "~i":
            hyponyms.append(target)
        elif symbol == "&":
            similar.append(target)
    return Synset(offset, pos, lexname, lemmas, tuple(hypernyms), tuple(hyponyms), tuple(similar),
                  is_instance)


@functools.lru_cache(maxsize=8)
def _read_synsets_cached(directory: str, pos_file: str) -> dict[int, Synset]:
    synsets: dict[int, Synset] = {}
    with open(Path(directory) / f"data.{_POS_FILES[pos_file]}", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("  "):  # license header lines start with two spaces
                continue
            synset = _parse_data_line(line)
            synsets[synset.offset] = synset
    return synsets


def read_synsets(pos_file: str, wordnet_dir: str | os.PathLike | None = None) -> dict[int, Synset]:
    """All synsets of ``data.noun`` (``pos_file="n"``) or ``data.adj`` (``"a"``), keyed by offset.

    The dict preserves data-file order. Cached per directory: do not mutate the result.
    """
    if pos_file not in _POS_FILES:
        raise ValueError(f"pos_file={pos_file!r} is not supported; valid: {sorted(_POS_FILES)}")
    return _read_synsets_cached(str(resolve_wordnet_dir(wordnet_dir)), pos_file)


@functools.lru_cache(maxsize=8)
def _read_index_cached(directory: str, pos_file: str) -> dict[str, tuple[int, ...]]:
    index: dict[str, tuple[int, ...]] = {}
    with open(Path(directory) / f"index.{_POS_FILES[pos_file]}", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("  "):
                continue
            fields = line.split()
            n_senses = int(fields[2])
            index[fields[0]] = tuple(int(f) for f in fields[len(fields) - n_senses :])
    return index


def read_index(pos_file: str, wordnet_dir: str | os.PathLike | None = None) -> dict[str, tuple[int, ...]]:
    """``index.noun`` / ``index.adj``: lemma (lower-case, underscores) -> synset offsets, most frequent sense first."""
    if pos_file not in _POS_FILES:
        raise ValueError(f"pos_file={pos_file!r} is not supported; valid: {sorted(_POS_FILES)}")
    return _read_index_cached(str(resolve_wordnet_dir(wordnet_dir)), pos_file)


def hypernym_closure(synsets: dict[int, Synset], offsets: Iterable[int]) -> set[int]:
    """All ancestors (``@`` and ``@i`` hypernyms, transitively) of ``offsets``, the offsets themselves excluded
    unless one is an ancestor of another."""
    return _closure(synsets, offsets, "hypernyms")


def _closure(synsets: dict[int, Synset], offsets: Iterable[int], edges: str) -> set[int]:
    """Offsets reachable from ``offsets`` along the ``edges`` attribute (one step or more)."""
    seen: set[int] = set()
    stack = [p for o in offsets for p in getattr(synsets[o], edges)]
    while stack:
        o = stack.pop()
        if o not in seen:
            seen.add(o)
            stack.extend(getattr(synsets[o], edges))
    return seen


def hyponym_closure(synsets: dict[int, Synset], offsets: Iterable[int]) -> set[int]:
    """All descendants (hyponyms and instance hyponyms, transitively) of ``offsets``, the offsets
    themselves excluded unless one descends from another."""
    return _closure(synsets, offsets, "hyponyms")
