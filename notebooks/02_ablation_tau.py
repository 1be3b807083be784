# %% [markdown]
# # Ablation: tau, the ID-like fraction of the wild corpus
#
# DNM's debiased score over a grid of tau (`ablations.tau` in params.yaml) on DNM's own negatives, per OOD set and averaged; tau = 0 ranks exactly like NegLabel's grouped score. The dashed line is DNM's tau in params.yaml for this backbone. Each line carries its 95 % bootstrap interval over images (shaded): how far each value could move with another draw of test images. All settings are scored on the same images, so the bands are not a test of whether two settings differ (that needs a paired interval of the difference); a shift well inside them is not a finding on its own.

# %% tags=["parameters"]
# Papermill injects the real values; root=None finds the project root from the working folder (JupyterLab in notebooks/ works).
benchmark = "simulated"
backbone = "ViT-B-16"
root = None
params_path = None
dvc_stage = False  # the DVC stage sets True; a run by hand writes under results/interactive/
# This run's grid instead of params.yaml's ablations.tau (checked the same way), e.g.
# ablation = {"grid": [0.0, 0.3]}; papermill: -y 'ablation: {grid: [0.0, 0.3]}'
ablation = None

# %%
import matplotlib.pyplot as plt
from IPython.display import display

from ood_study import experiments, figures
from ood_study.method_params import scoring_params
from ood_study.notebook import setup

nb = setup("02_ablation_tau", benchmark, backbone, root=root, params_path=params_path, dvc_stage=dvc_stage,
           ablation=ablation)

# %%
dnm = scoring_params(nb.params, "dnm", backbone)
sweep = experiments.tau_sweep(nb.study, nb.study.negatives("dnm"), dnm, nb.ablation("tau").grid,
                               evaluation=nb.params.get("evaluation"))
nb.save_sweep(sweep)
display(sweep[sweep.ood_set == "average"].round(2))

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for ax, metric in zip(axes, ["auroc", "fpr95"]):
    figures.line_with_band(ax, sweep, "value", metric, hue="ood_set")  # rejected settings: an x on the axis
    ax.axvline(dnm.tau, ls="--", c="gray", label=f"params.yaml tau = {dnm.tau}")
    ax.set(xlabel="tau (ID-like fraction)", ylabel=f"{metric.upper()} (%)")
axes[-1].legend(title="OOD set", loc="upper left", bbox_to_anchor=(1.02, 1))
fig.suptitle(f"DNM over tau ({nb.tag}, {backbone}; {figures.BAND_NOTE})")
fig.tight_layout()
nb.save_figure(fig, "dnm_over_tau")
plt.show()

# %%
print(f"best tau by average AUROC: {experiments.best_value(sweep, 'auroc')} (params.yaml: {dnm.tau})")
