"""Wild corpus (docs/methods.md §1) on the real WordNet 3.0 files; skipped where they are not installed."""

from __future__ import annotations

import numpy as np
import pytest

from ood_core.text import corpus as C
from ood_core.text import prompts as P
from ood_core.text import wordnet as wn

try:
    WN_DIR = wn.resolve_wordnet_dir()
except FileNotFoundError:  # pragma: no cover - depends on the machine
    WN_DIR = None
pytestmark = pytest.mark.skipif(WN_DIR is None, reason="WordNet 3.0 dictionary files not installed")


@pytest.fixture(scope="module")
def corpus():
    return C.load_wordnet_corpus()


def test_counts_are_the_recorded_ones_and_in_the_spec_band(corpus):
    # Recorded on Debian wordnet-base (WordNet 3.0) with the sorted-lexname rule (docs/methods.md §1).
    assert (corpus.n_noun, corpus.n_adj) == (46446, 11047)
    # Expected: roughly 46.5k nouns + 10k adjectives (released lists: 46,560 + 10,060).
    assert 45_000 < corpus.n_noun < 48_000
    assert 9_500 < corpus.n_adj < 11_500
    assert len(corpus) == len(corpus.words) == corpus.is_adj.size == len(corpus.lexnames) == corpus.offsets.size
    assert corpus.offsets.dtype == np.int64 and corpus.is_adj.dtype == bool


def test_hand_checked_words(corpus):
    where = {w: i for i, w in enumerate(corpus.words)}
    # abacus: data.noun 02666196, noun.artifact
    i = where["abacus"]
    assert not corpus.is_adj[i] and corpus.lexnames[i] == "noun.artifact" and corpus.offsets[i] == 2666196
    # "plumber", "carpenter" and "astronaut" exist only as noun.person synsets: excluded.
    for word in ("plumber", "carpenter", "astronaut"):
        assert word not in where
    # "teacher" has a noun.person sense but also noun.cognition 05854812 ("a personified abstraction
    # that teaches"): present, from the included lexname.
    i = where["teacher"]
    assert corpus.lexnames[i] == "noun.cognition" and corpus.offsets[i] == 5854812
    # "dog" is noun.animal (and noun.person etc.), never a first lemma in an included lexname.
    assert "dog" not in where
    # "red" is both an adjective (00381097) and a noun (noun.attribute); adj.* sorts first and wins.
    i = where["red"]
    assert corpus.is_adj[i] and corpus.lexnames[i] == "adj.all" and corpus.offsets[i] == 381097


def test_lemma_cleaning_hand_checked(corpus):
    assert wn.clean_lemma("used_to(p)") == "used to"
    assert wn.clean_lemma("regardant(ip)") == "regardant"
    assert wn.clean_lemma("outback(a)") == "outback"
    assert wn.clean_lemma("Rocky_mountain_pinon") == "rocky mountain pinon"
    where = {w: i for i, w in enumerate(corpus.words)}
    # data.adj 00024619 "used_to(p)", 00202677 "regardant(ip)" (satellite, adj.all)
    assert corpus.offsets[where["used to"]] == 24619 and corpus.is_adj[where["used to"]]
    assert corpus.offsets[where["regardant"]] == 202677
    # data.noun 11610047 "Rocky_mountain_pinon" (noun.plant)
    assert corpus.offsets[where["rocky mountain pinon"]] == 11610047
    assert not any(("(" in w and w.endswith(")")) or "_" in w or w != w.lower() for w in corpus.words)


def test_every_word_is_its_synsets_first_lemma_from_an_included_lexname(corpus):
    nouns, adjs = wn.read_synsets("n"), wn.read_synsets("a")
    allowed = set(C.DEFAULT_NOUN_LEXNAMES) | set(C.DEFAULT_ADJ_LEXNAMES)
    for word, adj, lexname, offset in zip(corpus.words, corpus.is_adj, corpus.lexnames, corpus.offsets):
        synset = (adjs if adj else nouns)[int(offset)]
        assert synset.lexname == lexname and lexname in allowed
        assert wn.clean_lemma(synset.lemmas[0]) == word
    assert "noun.person" not in set(corpus.lexnames) and "adj.pert" not in set(corpus.lexnames)


def test_dedup_and_sorted_lexname_order(corpus):
    assert len(set(corpus.words)) == len(corpus.words)
    ranks = {name: r for r, name in enumerate(sorted(set(corpus.lexnames)))}
    order = [ranks[name] for name in corpus.lexnames]
    assert order == sorted(order)  # lexname blocks appear in sorted() order
    # Within a lexname, data-file order = increasing byte offset.
    for name in ranks:
        offs = corpus.offsets[np.array([n == name for n in corpus.lexnames])]
        assert np.all(np.diff(offs) > 0)


def test_lexname_subsets_and_errors():
    c = C.load_wordnet_corpus(noun_lexnames=["noun.shape"], adj_lexnames=[])
    # 341 noun.shape synsets (lex_filenum 25) with 328 distinct lower-cased first lemmas, counted
    # with grep/awk on data.noun.
    assert not c.is_adj.any() and set(c.lexnames) == {"noun.shape"} and len(c) == 328
    with pytest.raises(ValueError, match=r"noun_lexnames.*noun\.persn.*valid"):
        C.load_wordnet_corpus(noun_lexnames=["noun.persn"])
    with pytest.raises(ValueError, match=r"adj_lexnames.*noun\.act"):
        C.load_wordnet_corpus(adj_lexnames=["noun.act"])
    with pytest.raises(ValueError, match="list of lexnames"):
        C.load_wordnet_corpus(noun_lexnames="noun.act")
    with pytest.raises(FileNotFoundError, match="wordnet-base"):
        C.load_wordnet_corpus(wordnet_dir="/nonexistent/wordnet")


def test_save_load_round_trip(corpus, tmp_path):
    path = tmp_path / "corpus.tsv"
    corpus.save(path)
    back = C.Corpus.load(path)
    assert back.words == corpus.words and back.lexnames == corpus.lexnames
    np.testing.assert_array_equal(back.is_adj, corpus.is_adj)
    np.testing.assert_array_equal(back.offsets, corpus.offsets)
    assert back.offsets.dtype == np.int64
    # words with quotes / apostrophes survive
    odd = C.Corpus(words=['o\'clock', 'say "cheese"', "a,b"], is_adj=[False, True, False],
                   lexnames=["noun.time", "adj.all", "noun.act"], offsets=[1, 2, 3])
    odd.save(path)
    assert C.Corpus.load(path).words == odd.words
    path.write_text("foo\tbar\n")
    with pytest.raises(ValueError, match="header"):
        C.Corpus.load(path)


def test_prompts_and_templates():
    assert P.prompts(["abacus", "red"], P.NOUN_TEMPLATE) == ["the nice abacus", "the nice red"]
    assert P.prompts(["red"], P.ADJ_TEMPLATE) == ["This is a red photo"]
    for bad in ("no placeholder", "{} and {}", "{0}", "{x} {}"):
        with pytest.raises(ValueError, match="template"):
            P.prompts(["a"], bad)


def test_csp_phrases_are_seeded_and_use_the_suffix_list():
    words = [f"w{i}" for i in range(300)]
    a, b, c = P.csp_adjective_phrases(words, 0), P.csp_adjective_phrases(words, 0), P.csp_adjective_phrases(words, 1)
    assert a == b and a != c
    suffixes = [p.split(" ", 1)[1] for p in a]
    assert all(p.startswith(w + " ") for p, w in zip(a, words))
    assert set(suffixes) == set(P.CSP_SUFFIXES)  # 300 uniform draws over 14 suffixes hit each one
    with pytest.raises(ValueError, match="seed"):
        P.csp_adjective_phrases(words, -1)


def test_corpus_length_mismatch_is_rejected():
    with pytest.raises(ValueError, match="is_adj has 1 entries but words has 2"):
        C.Corpus(words=["a", "b"], is_adj=[True], lexnames=["adj.all", "adj.all"], offsets=[1, 2])


# --- validated WordNet files: a copy in tmp_path, truncated or corrupted -------------------------

WN_FILES = ("data.noun", "data.adj", "index.noun", "index.adj")


@pytest.fixture
def wn_copy(tmp_path):
    """A private copy of the four dictionary files (never cached before: a fresh directory)."""
    for name in WN_FILES:
        (tmp_path / name).write_bytes((WN_DIR / name).read_bytes())
    return tmp_path


def _split(path):
    """(header lines, synset lines) of a data or index file, as bytes with their newlines."""
    lines = path.read_bytes().splitlines(keepends=True)
    n_header = next(i for i, line in enumerate(lines) if not line.startswith(b"  "))
    return lines[:n_header], lines[n_header:]


def _index_offsets(path):
    """Distinct synset offsets listed in an index file, parsed by the format's field counts."""
    offsets = set()
    for line in _split(path)[1]:
        f = line.split()
        offsets.update(int(o) for o in f[6 + int(f[3]):])
    return offsets


def test_a_data_noun_cut_at_a_line_boundary_is_refused_with_the_counts(wn_copy):
    header, synsets = _split(wn_copy / "data.noun")
    kept = synsets[: len(synsets) // 2]
    (wn_copy / "data.noun").write_bytes(b"".join(header + kept))
    listed = _index_offsets(wn_copy / "index.noun")
    assert (len(kept), len(listed)) == (41057, 82115)  # half the file; what index.noun lists
    pattern = (rf"WordNet file {wn_copy / 'data.noun'} holds {len(kept)} synsets but {wn_copy / 'index.noun'} "
               rf"lists {len(listed)} distinct synset offsets \({len(listed) - len(kept)} listed offset\(s\) "
               rf"have no synset in data\.noun.*reinstall")
    with pytest.raises(ValueError, match=pattern):
        wn.read_synsets("n", wn_copy)
    with pytest.raises(ValueError, match=pattern):  # the public entry point, not a smaller corpus
        C.load_wordnet_corpus(wordnet_dir=wn_copy)
    # The adjectives of the same copy are intact and still read.
    assert len(wn.read_synsets("a", wn_copy)) == len(_index_offsets(wn_copy / "index.adj")) == 18156


def _corrupt_adj_line(wn_copy, k, edit):
    """Apply ``edit`` to the k-th synset line of data.adj; return (1-based line number, byte offset)."""
    header, synsets = _split(wn_copy / "data.adj")
    number, offset = len(header) + k + 1, sum(map(len, header + synsets[:k]))
    assert int(synsets[k][:8]) == offset  # a synset line starts with its own byte offset
    synsets[k] = edit(synsets[k])
    (wn_copy / "data.adj").write_bytes(b"".join(header + synsets))
    return number, offset


@pytest.mark.parametrize("edit, reason", [
    (lambda line: line.replace(b" | ", b" ", 1), r"no ' \| ' gloss separator"),
    (lambda line: b" ".join(line.split(b" | ")[0].split()[:-4]) + b" | gloss\n",  # one pointer short
     r"w_cnt=\d+ and p_cnt=\d+ call for \d+ fields before the gloss, found \d+"),
    (lambda line: line[:9] + b"xx" + line[11:], r"a numeric field is not a number"),
    (lambda line: line[:9] + b"77" + line[11:], r"lex_filenum '77' is not a WordNet 3\.0 lexicographer file"),
    (lambda line: b"%08d" % (int(line[:8]) + 1) + line[8:], r"it names offset \d+ but starts at byte \d+"),
    (lambda line: line[:12] + b"v" + line[13:], r"ss_type 'v' does not belong in data\.adj"),
], ids=["no-gloss", "pointer-missing", "not-a-number", "bad-lex-filenum", "wrong-offset", "wrong-ss-type"])
def test_a_malformed_data_line_is_named_by_file_line_and_offset(wn_copy, edit, reason):
    number, offset = _corrupt_adj_line(wn_copy, 1000, edit)
    with pytest.raises(ValueError, match=rf"WordNet file {wn_copy / 'data.adj'}: line {number} "
                                         rf"\(byte offset {offset}\) is malformed: ({reason}).*reinstall"):
        wn.read_synsets("a", wn_copy)


def test_a_data_file_cut_mid_line_or_missing_lines_is_refused(wn_copy):
    data = (wn_copy / "data.adj").read_bytes()
    cut = data.rindex(b" | ") + 5  # inside the last synset's gloss: every field still parses
    (wn_copy / "data.adj").write_bytes(data[:cut])
    number = data[:cut].count(b"\n") + 1
    with pytest.raises(ValueError, match=rf"data\.adj: line {number} .*no newline \(the file is cut off\)"):
        wn.read_synsets("a", wn_copy)
    # A line dropped from the middle shifts every later offset: the next line is named.
    header, synsets = _split(wn_copy / "data.noun")
    (wn_copy / "data.noun").write_bytes(b"".join(header + synsets[:500] + synsets[501:]))
    with pytest.raises(ValueError, match=rf"data\.noun: line {len(header) + 501} \(byte offset "
                                         rf"{sum(map(len, header + synsets[:500]))}\) is malformed: it names offset "
                                         rf"{int(synsets[501][:8])} but starts at byte"):
        wn.read_synsets("n", wn_copy)


def test_a_malformed_or_truncated_index_is_refused(wn_copy):
    header, lines = _split(wn_copy / "index.adj")
    bad = lines[:]
    bad[10] = b" ".join(bad[10].split()[:-1]) + b"\n"  # one synset offset short
    (wn_copy / "index.adj").write_bytes(b"".join(header + bad))
    with pytest.raises(ValueError, match=rf"WordNet file {wn_copy / 'index.adj'}: line {len(header) + 11} is "
                                         r"malformed: synset_cnt=\d+ and p_cnt=\d+ call for \d+ fields, found"):
        wn.read_index("a", wn_copy)
    # An index cut in half no longer lists every synset of data.adj.
    (wn_copy / "index.adj").write_bytes(b"".join(header + lines[: len(lines) // 2]))
    listed = _index_offsets(wn_copy / "index.adj")
    with pytest.raises(ValueError, match=rf"data\.adj holds 18156 synsets but .*index\.adj lists {len(listed)} "
                                         rf"distinct synset offsets \({18156 - len(listed)} synset\(s\) of data\.adj "
                                         r"are not listed in index\.adj"):
        wn.read_synsets("a", wn_copy)
    (wn_copy / "index.adj").unlink()
    with pytest.raises(FileNotFoundError, match=r"index\.adj is missing"):
        wn.read_synsets("a", wn_copy)


def test_an_intact_copy_reads_the_same_synsets(wn_copy):
    copy_nouns, real_nouns = wn.read_synsets("a", wn_copy), wn.read_synsets("a")
    assert copy_nouns == real_nouns and list(copy_nouns) == list(real_nouns)
