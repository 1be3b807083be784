"""Wild corpus (SPEC section 1) on the real WordNet 3.0 files; skipped where they are not installed."""

from __future__ import annotations

import numpy as np
import pytest

from ood_core import corpus as C  # the stable public path (re-exports ood_core.text.*)
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
    # Recorded on Debian wordnet-base (WordNet 3.0) with the SPEC's sorted-lexname rule.
    assert (corpus.n_noun, corpus.n_adj) == (46446, 11047)
    # SPEC: "roughly 46.5k nouns + 10k adjectives" (released lists: 46,560 + 10,060).
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
    assert C.prompts(["abacus", "red"], C.NOUN_TEMPLATE) == ["the nice abacus", "the nice red"]
    assert C.prompts(["red"], C.ADJ_TEMPLATE) == ["This is a red photo"]
    for bad in ("no placeholder", "{} and {}", "{0}", "{x} {}"):
        with pytest.raises(ValueError, match="template"):
            C.prompts(["a"], bad)


def test_csp_phrases_are_seeded_and_use_the_suffix_list():
    words = [f"w{i}" for i in range(300)]
    a, b, c = C.csp_adjective_phrases(words, 0), C.csp_adjective_phrases(words, 0), C.csp_adjective_phrases(words, 1)
    assert a == b and a != c
    suffixes = [p.split(" ", 1)[1] for p in a]
    assert all(p.startswith(w + " ") for p, w in zip(a, words))
    assert set(suffixes) == set(C.CSP_SUFFIXES)  # 300 uniform draws over 14 suffixes hit each one
    with pytest.raises(ValueError, match="seed"):
        C.csp_adjective_phrases(words, -1)


def test_corpus_length_mismatch_is_rejected():
    with pytest.raises(ValueError, match="is_adj has 1 entries but words has 2"):
        C.Corpus(words=["a", "b"], is_adj=[True], lexnames=["adj.all", "adj.all"], offsets=[1, 2])
