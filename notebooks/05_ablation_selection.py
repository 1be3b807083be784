# %% [markdown]
# # Ablation: negative selection
#
# DNM's density selection over its neighbourhood size k and noun ratio, and NegLabel's selection over its percentile and ratio (`ablations.selection`; every other parameter as in params.yaml), averaged over the OOD sets: average AUROC (left axis) and FPR95 (right axis), each with its 95 % bootstrap interval over images (shaded). On the simulated benchmark a second row gives the false-negative rate of the selected negatives (the share that is ID-like, from the ground truth); it is an exact count over the selected set, so it has no band.

# %% tags=["parameters"]
# Papermill injects the real values; root=None finds the project root from the working folder (JupyterLab in notebooks/ works).
benchmark = "simulated"
backbone = "ViT-B-16"
root = None
params_path = None
dvc_stage = False  # the DVC stage sets True; a run by hand writes under results/interactive/
# This run's grid instead of params.yaml's ablations.selection (checked the same way), e.g.
# ablation = {"density_k": [5, 10]}; papermill: -y 'ablation: {density_k: [5, 10]}'
ablation = None

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from ood_core import methods
from ood_study import experiments, figures
from ood_study.method_params import mining_params, scoring_params
from ood_study.notebook import setup

nb = setup("05_ablation_selection", benchmark, backbone, root=root, params_path=params_path, dvc_stage=dvc_stage,
           ablation=ablation)

# %%
sel = nb.ablation("selection")
dnm_mining, dnm_scoring = mining_params(nb.params, "dnm", backbone), scoring_params(nb.params, "dnm", backbone)
nl_mining, nl_scoring = mining_params(nb.params, "neglabel", backbone), scoring_params(nb.params, "neglabel", backbone)
sweep = pd.concat([
    experiments.density_selection_sweep(nb.study, dnm_mining, dnm_scoring, sel.density_k, sel.density_ratio_noun,
                                            evaluation=nb.params.get("evaluation")),
    experiments.neglabel_selection_sweep(nb.study, nl_mining, nl_scoring, sel.neglabel_percentile, sel.neglabel_ratio,
                                             evaluation=nb.params.get("evaluation")),
], ignore_index=True)
nb.save_sweep(sweep)
display(sweep[sweep.ood_set == "average"].round(2))

# %%
panels = sweep[sweep.ood_set == "average"].groupby(["method", "parameter"], sort=False)
truth = nb.study.id_like is not None  # ground truth (the ID-like share): the simulated benchmark only
rows_of_panels = [("auroc", "average AUROC (%)"), ("fpr95", "average FPR95 (%)")]  # one axis per metric
fig, axes = plt.subplots(2 + truth, len(panels), figsize=(4.5 * len(panels), 3.2 * (2 + truth)), squeeze=False,
                         sharex="col")
for col, ((method, parameter), rows) in enumerate(panels):
    colour = methods.get(method).color
    for row, (metric, label) in enumerate(rows_of_panels):
        figures.line_with_band(axes[row, col], rows, "value", metric, color=colour, label=label)
        figures.zoom_to_intervals(axes[row, col], rows, metric)
        axes[row, col].set(ylabel=label, xlabel=parameter)
    axes[0, col].set_title(f"{methods.get(method).title}: {parameter}")
    if truth:
        figures.line_with_band(axes[2, col], rows, "value", "false_negative_rate", interval=None, color="0.3",
                               marker="D", label="ID-like negatives")
        axes[2, col].set(xlabel=parameter, ylabel="ID-like negatives (%)")
fig.suptitle(f"Negative selection: average AUROC (top), average FPR95 (middle; lower is better); {figures.BAND_NOTE}"
             f"{'; bottom: ID-like share of the negatives' if truth else ''} ({nb.tag}, {backbone})")
fig.tight_layout()
nb.save_figure(fig, "selection")
plt.show()
