"""Stage ``corpus``: the WordNet wild corpus (docs/methods.md §1) -> ``data/corpus.tsv``."""

from __future__ import annotations

from ood_core.text.corpus import load_wordnet_corpus
from ood_study.layout import Layout
from ood_study.params import StudyParams
from ood_study.stages import log, stage_main

PARAMS = ("corpus",)


def run(params: StudyParams, layout: Layout) -> None:
    try:  # the library checks the lexnames (the one place); name the params key
        corpus = load_wordnet_corpus(params.get("corpus.wordnet_dir"), params.get("corpus.noun_lexnames"),
                                     params.get("corpus.adj_lexnames"))
    except ValueError as err:
        raise ValueError(f"corpus.{err}") from None
    layout.corpus.parent.mkdir(parents=True, exist_ok=True)
    corpus.save(layout.corpus)
    log("corpus", f"{corpus.n_noun} nouns + {corpus.n_adj} adjectives -> {layout.corpus}")


def main(argv=None) -> None:
    stage_main(__doc__, PARAMS, run, argv=argv)


if __name__ == "__main__":
    main()
