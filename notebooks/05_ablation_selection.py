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

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from ood_core import methods
from ood_study import experiments, figures
from ood_study.method_params import mining_params, scoring_params
from ood_study.notebook import setup

nb = setup("05_ablation_selection", benchmark, backbone, root=root, params_path=params_path, dvc_stage=dvc_stage)

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
fig, axes = plt.subplots(1 + truth, len(panels), figsize=(4.5 * len(panels), 3.5 * (1 + truth)), squeeze=False,
                         sharex="col")
for col, ((method, parameter), rows) in enumerate(panels):
    figures.twin_lines_with_bands(axes[0, col], rows, "value", "auroc", "fpr95",
                                  labels=("average AUROC (%)", "average FPR95 (%)"))
    axes[0, col].set(title=f"{methods.get(method).title}: {parameter}", xlabel=parameter)
    if truth:
        figures.line_with_band(axes[1, col], rows, "value", "false_negative_rate", interval=None, color="0.3",
                               marker="D", label="ID-like negatives")
        axes[1, col].set(xlabel=parameter, ylabel="ID-like negatives (%)")
fig.suptitle(f"Negative selection (blue circles: average AUROC, red squares: average FPR95; {figures.BAND_NOTE}"
             f"{'; grey: ID-like share of the negatives' if truth else ''}) ({nb.tag}, {backbone})")
fig.tight_layout()
nb.save_figure(fig, "selection")
plt.show()
