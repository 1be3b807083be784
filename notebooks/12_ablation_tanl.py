# %% [markdown]
# # Ablation: TANL's gamma and memory length
#
# TANL (test-time, docs/methods.md §3) over its activation-aware prefix step `gamma` (the released script runs 2, 1, 0) and its memory length (`ablations.tanl`), every other parameter as in params.yaml. Each point's difference from the params.yaml setting comes with its **paired** 95 % bootstrap interval (the same resampled images for both settings; ood_core.bootstrap.paired_difference_intervals): filled points differ significantly, open ones do not. Stream seed as in params.yaml.

# %% tags=["parameters"]
# Papermill injects the real values; root=None finds the project root from the working folder (JupyterLab in notebooks/ works).
benchmark = "simulated"
backbone = "ViT-B-16"
root = None
params_path = None
dvc_stage = False  # the DVC stage sets True; a run by hand writes under results/interactive/
# This run's grid instead of params.yaml's ablations.tanl (checked the same way), e.g.
# ablation = {"gamma": [0, 1]}; papermill: -y 'ablation: {gamma: [0, 1]}'
ablation = None

# %%
import matplotlib.pyplot as plt
from IPython.display import display

from ood_study import experiments, figures
from ood_study.method_params import scoring_params
from ood_study.notebook import setup

nb = setup("12_ablation_tanl", benchmark, backbone, root=root, params_path=params_path, dvc_stage=dvc_stage,
           ablation=ablation)

# %%
grid = nb.ablation()
tanl = scoring_params(nb.params, "tanl", backbone)
negatives = nb.study.negatives("tanl")
ev = nb.params.get("evaluation")
by_gamma = experiments.paired_sweep(nb.study, "tanl", negatives, tanl, "gamma", grid.gamma, ev)
by_memory = experiments.paired_sweep(nb.study, "tanl", negatives, tanl, "memory_length", grid.memory_length, ev)
nb.save_table(by_gamma, "tanl_gamma")
nb.save_table(by_memory, "tanl_memory_length")
columns = ["value", "auroc", "fpr95", "delta_auroc", "delta_auroc_low", "delta_auroc_high", "significant_auroc"]
display(by_gamma[by_gamma.ood_set == "average"][columns].round(2))
display(by_memory[by_memory.ood_set == "average"][columns].round(2))

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 4))
figures.delta_panel(axes[0], by_gamma, "value", "gamma (prefix step)")
figures.delta_panel(axes[1], by_memory, "value", "memory length")
axes[1].set_xscale("log")
axes[1].legend(loc="best")
fig.suptitle(f"TANL: Δ vs params.yaml with paired 95 % intervals ({nb.tag}, {backbone})")
fig.tight_layout()
nb.save_figure(fig, "tanl")
plt.show()
