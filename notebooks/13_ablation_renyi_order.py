# %% [markdown]
# # Ablation: the Rényi order r of the energy margin
#
# The Rényi energy-margin score (docs/methods.md §3) on DNM's negatives over its order `r` (`ablations.renyi_order`; `r* = r / (r - 1)`), every other parameter as in params.yaml. Each point's difference from the params.yaml order comes with its **paired** 95 % bootstrap interval (the same resampled images for both): filled points differ significantly, open ones do not.

# %% tags=["parameters"]
# Papermill injects the real values; root=None finds the project root from the working folder (JupyterLab in notebooks/ works).
benchmark = "simulated"
backbone = "ViT-B-16"
root = None
params_path = None
dvc_stage = False  # the DVC stage sets True; a run by hand writes under results/interactive/
# This run's grid instead of params.yaml's ablations.renyi_order (checked the same way), e.g.
# ablation = {"r": [1.05, 2.0]}; papermill: -y 'ablation: {r: [1.05, 2.0]}'
ablation = None

# %%
import matplotlib.pyplot as plt
from IPython.display import display

from ood_study import experiments, figures
from ood_study.method_params import scoring_params
from ood_study.notebook import setup

nb = setup("13_ablation_renyi_order", benchmark, backbone, root=root, params_path=params_path, dvc_stage=dvc_stage,
           ablation=ablation)

# %%
grid = nb.ablation()
renyi = scoring_params(nb.params, "renyi", backbone)
sweep = experiments.paired_sweep(nb.study, "renyi", nb.study.negatives("renyi"), renyi, "r", grid.r,
                                 nb.params.get("evaluation"))
nb.save_table(sweep, "renyi_order")
columns = ["value", "auroc", "fpr95", "delta_auroc", "delta_auroc_low", "delta_auroc_high", "significant_auroc"]
display(sweep[sweep.ood_set == "average"][columns].round(2))

# %%
fig, ax = plt.subplots(figsize=(5.5, 4))
figures.delta_panel(ax, sweep, "value", "Renyi order r")
ax.set_xscale("log")
ax.legend(loc="best")
fig.suptitle(f"Renyi margin: Δ vs params.yaml with paired 95 % intervals ({nb.tag}, {backbone})")
fig.tight_layout()
nb.save_figure(fig, "renyi_order")
plt.show()
