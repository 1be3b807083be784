"""A small reader for the WordNet 3.0 dictionary files (``data.noun``, ``data.adj``, ``index.*``).

No nltk dependency: the files are parsed directly (format: ``wndb(5WN)``). A data line is

    offset lex_filenum ss_type w_cnt (word lex_id){w_cnt} p_cnt (symbol offset pos src_tgt){p_cnt} ... | gloss

with ``w_cnt`` two hex digits and ``p_cnt`` three decimal digits. Offsets are byte offsets into the
file they come from, so a noun and an adjective can share an offset: always key synsets by
``(pos_file, offset)`` where ``pos_file`` is ``"n"`` (data.noun) or ``"a"`` (data.adj; its synsets
have ``pos`` ``"a"`` heads or ``"s"`` satellites).

Parsed files are cached per directory (``functools.lru_cache``); parsing ``data.noun`` (82,115
synsets) takes about half a second. Files are validated while read (no silent numbers): a line
that does not follow the format raises ``ValueError`` naming the file, the line number and its
byte offset, and the synsets of ``data.<pos>`` must be exactly those ``index.<pos>`` lists (a
truncated or mismatched file raises naming both files and the counts).
"""

from __future__ import annotations

import functools
import os
import re
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

    Search order: ``wordnet_dir`` (when given, it must qualify), ``$WNSEARCHDIR`` (when set, it must
    qualify), NLTK's data path
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
    if os.environ.get("WNSEARCHDIR"):  # set on purpose: an unusable one is an error, never a silent fallback
        path = Path(os.environ["WNSEARCHDIR"]).expanduser()
        if _is_wordnet30(path):
            return path
        raise FileNotFoundError(
            f"$WNSEARCHDIR={os.environ['WNSEARCHDIR']!r} does not hold WordNet 3.0 data.noun and data.adj (with the "
            "'WordNet 3.0' license header); point it at such a folder, or unset it to search NLTK's data path and "
            "/usr/share/wordnet")
    candidates: list[Path] = []
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


_VALID_POS = {"n": ("n",), "a": ("a", "s")}
_REINSTALL = (
    "the file is corrupt or truncated: reinstall WordNet 3.0 (`apt-get install --reinstall wordnet-base` -> "
    "/usr/share/wordnet, or `python -c \"import nltk; nltk.download('wordnet')\"`) or pass wordnet_dir=<an intact copy>"
)


class _Malformed(Exception):
    """A line that does not follow wndb(5WN); carries the reason (the caller adds file and line)."""


def _parse_data_line(line: str) -> Synset:
    """One synset line, its pre-gloss fields strictly checked: ``_Malformed`` (or ``ValueError`` /
    ``IndexError`` from a bad or missing field) when it does not follow wndb(5WN)."""
    head, sep, _ = line.partition(" | ")
    if not sep:
        raise _Malformed("no ' | ' gloss separator")
    fields = head.split()
    lexname = LEXNAMES.get(int(fields[1]))
    if lexname is None:
        raise _Malformed(f"lex_filenum {fields[1]!r} is not a WordNet 3.0 lexicographer file number")
    n_words = int(fields[3], 16)
    i = 4 + 2 * n_words
    n_ptrs = int(fields[i])
    end = i + 1 + 4 * n_ptrs
    if n_words < 1 or len(fields) != end:
        raise _Malformed(f"w_cnt={n_words} and p_cnt={n_ptrs} call for {end} fields before the gloss, found "
                         f"{len(fields)}")
    hypernyms, hyponyms, similar = [], [], []
    is_instance = False
    for j in range(i + 1, end, 4):
        symbol = fields[j]
        if symbol == "@" or symbol == "@i":
            hypernyms.append(int(fields[j + 1]))
            is_instance = is_instance or symbol == "@i"
        elif symbol == "~" or symbol == "~i":
            hyponyms.append(int(fields[j + 1]))
        elif symbol == "&":
            similar.append(int(fields[j + 1]))
    return Synset(int(fields[0]), fields[2], lexname, tuple(fields[4:i:2]), tuple(hypernyms), tuple(hyponyms),
                  tuple(similar), is_instance)


def _reason(err: Exception) -> str:
    if isinstance(err, IndexError):
        return "too few fields"
    if isinstance(err, UnicodeDecodeError):
        return f"not UTF-8 text ({err})"
    if isinstance(err, ValueError):
        return f"a numeric field is not a number ({err})"
    return str(err)


def _bad_line(path: Path, number: int, position: int, line: str, reason: str) -> ValueError:
    shown = line.rstrip("\n")
    shown = shown if len(shown) <= 100 else shown[:100] + "..."
    return ValueError(f"WordNet file {path}: line {number} (byte offset {position}) is malformed: {reason}: "
                      f"{shown!r}; {_REINSTALL}")


@functools.lru_cache(maxsize=8)
def _read_synsets_cached(directory: str, pos_file: str) -> dict[int, Synset]:
    """Every synset of ``data.<pos>``, each line checked: it parses (all pre-gloss fields), ends with a
    newline, has this file's ``pos`` and starts with its own byte offset; then the set of offsets must
    equal the synset offsets that ``index.<pos>`` lists (a file cut at a line boundary fails here)."""
    path = Path(directory) / f"data.{_POS_FILES[pos_file]}"
    valid_pos = _VALID_POS[pos_file]
    synsets: dict[int, Synset] = {}
    position = 0
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            here, position = position, position + len(raw)
            if raw.startswith(b"  "):  # license header lines start with two spaces
                continue
            line = ""
            try:
                line = raw.decode("utf-8")
                if not line.endswith("\n"):
                    raise _Malformed("the last line has no newline (the file is cut off)")
                synset = _parse_data_line(line)
                if synset.offset != here:
                    raise _Malformed(f"it names offset {synset.offset} but starts at byte {here}")
                if synset.pos not in valid_pos:
                    raise _Malformed(f"ss_type {synset.pos!r} does not belong in {path.name} (valid: {valid_pos})")
            except (_Malformed, ValueError, IndexError) as err:
                raise _bad_line(path, number, here, line or raw.decode("utf-8", "replace"), _reason(err)) from None
            synsets[synset.offset] = synset
    _check_against_index(path, synsets)
    return synsets


# In an index line only the synset offsets are 8-digit fields after a space (the lemma comes first;
# counts are short, pointer symbols are not digits): one regex pass finds them 4x faster than
# parsing the index (read_index), which keeps read_synsets within ~10% of its unchecked time.
_INDEX_OFFSET = re.compile(rb" ([0-9]{8})(?= |\r?\n)")


def _check_against_index(path: Path, synsets: dict[int, Synset]) -> None:
    """The synsets read from ``path`` (``data.<pos>``) must be exactly those ``index.<pos>`` lists."""
    index_path = path.with_name("index." + path.name.split(".", 1)[1])
    try:
        with open(index_path, "rb") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"WordNet file {index_path} is missing: it is needed to check {path} (the synsets it lists); "
            f"{_REINSTALL.replace('the file is corrupt or truncated: ', '')}"
        ) from None
    start = 0
    while text.startswith(b"  ", start):  # the license header
        start = text.find(b"\n", start) + 1 or len(text)
    listed = set(map(int, _INDEX_OFFSET.findall(text, start)))
    if listed == synsets.keys():
        return
    missing = sorted(listed.difference(synsets))
    extra = sorted(set(synsets).difference(listed))
    parts = []
    if missing:
        parts.append(f"{len(missing)} listed offset(s) have no synset in {path.name} (first: {missing[0]:08d})")
    if extra:
        parts.append(f"{len(extra)} synset(s) of {path.name} are not listed in {index_path.name} "
                     f"(first: {extra[0]:08d})")
    raise ValueError(
        f"WordNet file {path} holds {len(synsets)} synsets but {index_path} lists {len(listed)} distinct synset "
        f"offsets ({'; '.join(parts)}): the two files do not match, {_REINSTALL}"
    )


def read_synsets(pos_file: str, wordnet_dir: str | os.PathLike | None = None) -> dict[int, Synset]:
    """All synsets of ``data.noun`` (``pos_file="n"``) or ``data.adj`` (``"a"``), keyed by offset.

    The dict preserves data-file order. Cached per directory: do not mutate the result.
    Raises ``ValueError`` naming the file and the line when a line is malformed, and naming both
    files and the counts when the synsets read differ from those ``index.<pos>`` lists (e.g. a
    truncated ``data.noun``): never a silently smaller dictionary.
    """
    if pos_file not in _POS_FILES:
        raise ValueError(f"pos_file={pos_file!r} is not supported; valid: {sorted(_POS_FILES)}")
    return _read_synsets_cached(str(resolve_wordnet_dir(wordnet_dir)), pos_file)


@functools.lru_cache(maxsize=8)
def _read_index_cached(directory: str, pos_file: str) -> dict[str, tuple[int, ...]]:
    """``index.<pos>``, each line checked: ``lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt
    tagsense_cnt synset_offset{synset_cnt}``."""
    path = Path(directory) / f"index.{_POS_FILES[pos_file]}"
    index: dict[str, tuple[int, ...]] = {}
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if line.startswith("  "):
                continue
            try:
                fields = line.split()
                n_senses = int(fields[2])
                n_fields = 6 + int(fields[3]) + n_senses
                if not line.endswith("\n"):
                    raise _Malformed("the last line has no newline (the file is cut off)")
                if n_senses < 1 or len(fields) != n_fields:
                    raise _Malformed(f"synset_cnt={fields[2]} and p_cnt={fields[3]} call for {n_fields} fields, "
                                     f"found {len(fields)}")
                index[fields[0]] = tuple(map(int, fields[n_fields - n_senses:]))
            except (_Malformed, ValueError, IndexError) as err:
                shown = line.rstrip("\n")[:100]
                raise ValueError(f"WordNet file {path}: line {number} is malformed: {_reason(err)}: {shown!r}; "
                                 f"{_REINSTALL}") from None
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
