"""ood_core: zero-shot OOD detection with CLIP-style models and negative labels.

Modules (import them directly; this package imports nothing heavy at import time):

- ``ood_core.corpus``    WordNet wild corpus and prompt templates (SPEC section 1)
- ``ood_core.mining``    negative-label selection: NegLabel/CSP and DNM density (section 2)
- ``ood_core.scoring``   OOD scores: MCM, NegLabel grouped score, DNM debiased score (section 3)
- ``ood_core.metrics``   FPR95 / AUROC / AUPR under the ID-positive convention (section 4)
- ``ood_core.encoders``  open_clip encoders (real path)
- ``ood_core.datasets``  benchmark registry and folder-layout checks (section 5)
- ``ood_core.cache``     content-addressed embedding cache
- ``ood_core.simulate``  the offline simulated benchmark on the real WordNet hierarchy
"""

__version__ = "0.1.0"
