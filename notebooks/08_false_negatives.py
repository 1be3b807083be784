# %% [markdown]
# # False negatives
#
# The paper's central claim, tested where the truth is known. The simulated benchmark labels every wild-corpus word ID-like (it names an ImageNet class, a synonym or a hyponym) or a true negative, so we can report the false-negative rate of DNM's and NegLabel's selected negatives (the true tau of each selected set), compare the tau that maximises DNM's AUROC with the true one (NegLabel on its own negatives as a reference; both AUROCs with their 95 % bootstrap interval over images, shaded), and look at DNM's score distributions with and without debiasing. Real benchmarks have no such ground truth: there the rates are NaN and only the distributions are meaningful.

# %% tags=["parameters"]
# Papermill injects the real values; root=None finds the project root from the working folder (JupyterLab in notebooks/ works).
benchmark = "simulated"
backbone = "ViT-B-16"
root = None
params_path = None
dvc_stage = False  # the DVC stage sets True; a run by hand writes under results/interactive/
# This run's grid instead of params.yaml's ablations.false_negatives (checked the same way), e.g.
# ablation = {"tau_grid": [0.0, 0.3, 0.6]}; papermill: -y 'ablation: {tau_grid: [0.0, 0.3, 0.6]}'
ablation = None

# %%
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from IPython.display import display

from ood_core import methods
from ood_study import experiments, figures
from ood_study.method_params import scoring_params
from ood_study.notebook import setup

nb = setup("08_false_negatives", benchmark, backbone, root=root, params_path=params_path, dvc_stage=dvc_stage,
           ablation=ablation)

# %%
# NegLabel and DNM: the mined methods whose params this notebook declares (ood_study.notebook.NOTEBOOKS).
negatives = {m: nb.study.negatives(m) for m in ("neglabel", "dnm")}
fn = experiments.false_negative_table(nb.study, negatives)
title = f"**{nb.tag}, {backbone}: ID-like share of each method's negatives, %**"
nb.save_table(fn, "false_negatives", markdown=f"{title}\n\n{fn.round(3).to_markdown(index=False)}\n")
display(fn.round(3))

# %%
dnm = scoring_params(nb.params, "dnm", backbone)
sweep = experiments.tau_sweep(nb.study, negatives["dnm"], dnm, nb.ablation("false_negatives").tau_grid,
                               evaluation=nb.params.get("evaluation"))
neglabel = experiments.method_metrics(nb.study, "neglabel", negatives["neglabel"],
                                      scoring_params(nb.params, "neglabel", backbone),
                                      evaluation=nb.params.get("evaluation"))["average"]
cmp = experiments.best_vs_true_tau(nb.study, sweep, negatives["dnm"], neglabel)
best, true_tau = cmp["best_tau"], cmp["true_tau"]
neglabel_auroc, neglabel_low, neglabel_high = cmp["neglabel_auroc"], cmp["neglabel_auroc_low"], cmp["neglabel_auroc_high"]
print(f"{nb.tag}: tau with the best average AUROC = {best}; true tau of DNM's negatives = {true_tau:.4f}; "
      f"params.yaml tau = {dnm.tau}; NegLabel average AUROC = {neglabel_auroc:.2f} "
      f"(95 % interval {neglabel_low:.2f} to {neglabel_high:.2f})")

fig, ax = plt.subplots(figsize=(6, 4))
figures.line_with_band(ax, sweep[sweep.ood_set == "average"], "value", "auroc", color=methods.get("dnm").color,
                       label="DNM on its negatives")
neglabel_colour = methods.get("neglabel").color
ax.axhline(neglabel_auroc, ls="-.", c=neglabel_colour, label=f"NegLabel on its negatives ({neglabel_auroc:.2f})")
ax.axhspan(neglabel_low, neglabel_high, color=neglabel_colour, alpha=0.15, lw=0)  # its interval, as DNM's band
if np.isfinite(true_tau):  # ground truth: the simulated benchmark only
    ax.axvline(true_tau, ls="--", c="0.3", label=f"true tau of DNM's negatives ({true_tau:.3f})")
ax.axvline(best, ls=":", c="C2", label=f"best tau ({best})")
ax.set(xlabel="tau (ID-like fraction)", ylabel="average AUROC (%)",
       title=f"DNM: best vs true tau ({nb.tag}, {backbone})\n{figures.BAND_NOTE}")
ax.legend(fontsize="small")
fig.tight_layout()
nb.save_figure(fig, "best_vs_true_tau")
plt.show()

# %%
dist = experiments.score_distributions(nb.study, negatives["dnm"], dnm, taus=[0.0, dnm.tau])
g = sns.displot(data=dist, x="score", hue="split", col="tau", kind="kde", common_norm=False,
                facet_kws={"sharex": False, "sharey": False}, height=3.5, aspect=1.4)
g.set_titles("tau = {col_name}")
g.set_axis_labels("DNM score / ID median", "density")
g.figure.suptitle(f"DNM score distributions, tau = 0 (no debiasing) vs params.yaml tau ({nb.tag}, {backbone})", y=1.04)
nb.save_figure(g.figure, "score_distributions")
plt.show()
