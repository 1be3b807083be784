# %% [markdown]
# # Ablation: number of groups
#
# Every method of params.yaml whose score groups its negatives (NegLabel, CSP and DNM by default), over the grid of group counts G in `ablations.groups`, averaged over the OOD sets. DNM rejects a G whose group size Q breaks its normaliser condition Q·tau < (1 − tau)·K, and any method rejects a G above its number of negatives; those settings are listed, and marked with an x on the axis instead of a point. Each line carries its 95 % bootstrap interval over images (shaded): how far each value could move with another draw of test images. All settings are scored on the same images, so the bands are not a test of whether two settings differ (that needs a paired interval of the difference); a shift well inside them is not a finding on its own.

# %% tags=["parameters"]
# Papermill injects the real values; root=None finds the project root from the working folder (JupyterLab in notebooks/ works).
benchmark = "simulated"
backbone = "ViT-B-16"
root = None
params_path = None
dvc_stage = False  # the DVC stage sets True; a run by hand writes under results/interactive/
# This run's grid instead of params.yaml's ablations.groups (checked the same way), e.g.
# ablation = {"grid": [1, 10]}; papermill: -y 'ablation: {grid: [1, 10]}'
ablation = None

# %%
import matplotlib.pyplot as plt
from IPython.display import display

from ood_study import experiments, figures
from ood_study.notebook import setup

nb = setup("04_ablation_groups", benchmark, backbone, root=root, params_path=params_path, dvc_stage=dvc_stage,
           ablation=ablation)

# %%
scoring = experiments.params_by_method(nb.params, backbone, "n_groups")
negatives = {m: nb.study.negatives(m) for m in scoring}
sweep = experiments.groups_sweep(nb.study, negatives, scoring, nb.ablation("groups").grid,
                                  evaluation=nb.params.get("evaluation"))
nb.save_sweep(sweep)
display(sweep[sweep.ood_set == "average"].round(2))
display(sweep[~sweep.valid].drop_duplicates(["method", "value"])[["method", "value", "note"]])

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for ax, metric in zip(axes, ["auroc", "fpr95"]):
    # Rejected settings (valid=False) are not drawn but marked with an x on the axis.
    figures.line_with_band(ax, sweep[sweep.ood_set == "average"], "value", metric, hue="method", order=list(scoring))
    ax.set(xscale="log", xlabel="number of groups G", ylabel=f"average {metric.upper()} (%)")
axes[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1))
fig.suptitle(f"Average over OOD sets by number of groups ({nb.tag}, {backbone}; {figures.BAND_NOTE})")
fig.tight_layout()
nb.save_figure(fig, "average_over_ood_sets_by_number_of_groups")
plt.show()
