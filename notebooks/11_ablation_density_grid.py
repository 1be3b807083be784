# %% [markdown]
# # Ablation: DNM's density selection, k x noun ratio jointly
#
# DNM's density selection over its neighbourhood size k and its noun ratio together (`ablations.density_grid`; every other parameter as in params.yaml): average AUROC and FPR95 over the OOD sets for each grid cell. Notebook 05 varies one of the two with the other fixed; this grid shows whether the best ratio depends on k. On the simulated benchmark the last panel gives the false-negative rate of the selected negatives (the share that is ID-like, from the ground truth).

# %% tags=["parameters"]
# Papermill injects the real values; root=None finds the project root from the working folder (JupyterLab in notebooks/ works).
benchmark = "simulated"
backbone = "ViT-B-16"
root = None
params_path = None
dvc_stage = False  # the DVC stage sets True; a run by hand writes under results/interactive/
# This run's grid instead of params.yaml's ablations.density_grid (checked the same way), e.g.
# ablation = {"k": [5, 10]}; papermill: -y 'ablation: {k: [5, 10]}'
ablation = None

# %%
import matplotlib.pyplot as plt
from IPython.display import display

from ood_study import experiments, figures
from ood_study.method_params import mining_params, scoring_params
from ood_study.notebook import setup

nb = setup("11_ablation_density_grid", benchmark, backbone, root=root, params_path=params_path, dvc_stage=dvc_stage,
           ablation=ablation)

# %%
grid = nb.ablation()
sweep = experiments.density_grid_sweep(nb.study, mining_params(nb.params, "dnm", backbone),
                                       scoring_params(nb.params, "dnm", backbone), grid.k, grid.ratio_noun,
                                       evaluation=nb.params.get("evaluation"))
nb.save_table(sweep, "density_grid")
average = sweep[sweep.ood_set == "average"]
display(average[["k", "ratio_noun", "n_negatives", "auroc", "fpr95"]].round(2))

# %%
panels = ["auroc", "fpr95"] + (["false_negative_rate"] if "false_negative_rate" in average else [])
labels = {"auroc": "average AUROC (%)", "fpr95": "average FPR95 (%)", "false_negative_rate": "ID-like negatives (%)"}
fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 4))
for ax, column in zip(axes, panels):  # one line per k; the false-negative share is exact (no band)
    figures.line_with_band(ax, average, "ratio_noun", column, hue="k",
                           interval=None if column == "false_negative_rate" else "band")
    ax.set(xlabel="noun ratio", ylabel=labels[column])
axes[-1].legend(title="k", loc="upper left", bbox_to_anchor=(1.02, 1))
fig.suptitle(f"DNM density selection, k x noun ratio ({nb.tag}, {backbone}; {figures.BAND_NOTE})")
fig.tight_layout()
nb.save_figure(fig, "density_grid")
plt.show()
