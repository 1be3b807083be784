"""ood_core: zero-shot OOD detection with CLIP-style models and negative labels (the library).

Grouped by stage of the data flow (import the modules directly; nothing heavy runs at import):

- text      ``ood_core.text.wordnet`` (WordNet 3.0 reader), ``ood_core.text.corpus`` (the wild
            corpus, docs/methods.md §1), ``ood_core.text.prompts`` (templates), ``ood_core.text.imagenet``
- features  ``ood_core.features`` (the feature-source interface; prompting and CSP's ensembling),
            ``.encoders`` (open_clip), ``.datasets`` (benchmark folders), ``.files`` (feature
            files), ``.cache`` (content-addressed store), ``.clip`` (the real feature source)
- simulated ``ood_core.simulate``: the offline simulated benchmark on the real WordNet hierarchy
- methods   ``ood_core.mining`` (negative-label selection, section 2), ``ood_core.scoring`` (scores,
            section 3), ``ood_core.methods`` (the registry: one module per method)
- metrics   ``ood_core.metrics`` (FPR95 / AUROC / AUPR, ID positive, section 4)

The application around it (params, paths, DVC stages, notebooks) is the ``ood_study`` package;
this library never imports it.
"""

__version__ = "0.2.0"
