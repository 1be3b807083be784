"""ood_study: the application around the ``ood_core`` library.

Typed ``params.yaml`` (:mod:`~ood_study.params`, :mod:`~ood_study.method_params`), the one path
authority (:mod:`~ood_study.layout`), a study's loaded features (:mod:`~ood_study.study`), the DVC
stage commands (:mod:`ood_study.stages`), ablation sweeps (:mod:`~ood_study.experiments`), tables
(:mod:`~ood_study.report`), the notebooks' one-call setup (:mod:`~ood_study.notebook`) and the
stage import closures (:mod:`~ood_study.deps`). The library never imports this package.
"""
