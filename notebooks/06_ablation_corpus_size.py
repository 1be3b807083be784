# %% [markdown]
# # Ablation: number of wild labels L
#
# Each method of params.yaml that mines negatives, on seeded subsamples of the wild corpus (the same fraction of nouns and of adjectives; `ablations.corpus_size`), mined and scored with its params.yaml parameters and averaged over the OOD sets: the paper's "more labels, less bias" trend. A setting a method rejects (e.g. DNM's normaliser condition on a small corpus) is listed, and marked with an x on the axis instead of a point. Each line carries its 95 % bootstrap interval over images (shaded): how far each value could move with another draw of test images. All settings are scored on the same images, so the bands are not a test of whether two settings differ (that needs a paired interval of the difference); a shift well inside them is not a finding on its own.

# %% tags=["parameters"]
# Papermill injects the real values; root=None finds the project root from the working folder (JupyterLab in notebooks/ works).
benchmark = "simulated"
backbone = "ViT-B-16"
root = None
params_path = None
dvc_stage = False  # the DVC stage sets True; a run by hand writes under results/interactive/
# This run's grid instead of params.yaml's ablations.corpus_size (checked the same way), e.g.
# ablation = {"fractions": [0.5, 1.0]}; papermill: -y 'ablation: {fractions: [0.5, 1.0]}'
ablation = None

# %%
import matplotlib.pyplot as plt
from IPython.display import display

from ood_study import experiments, figures
from ood_study.notebook import setup

nb = setup("06_ablation_corpus_size", benchmark, backbone, root=root, params_path=params_path, dvc_stage=dvc_stage,
           ablation=ablation)

# %%
cs = nb.ablation("corpus_size")
sweep = experiments.corpus_size_sweep(nb.study, nb.params, backbone, cs.fractions, cs.seed,
                                       evaluation=nb.params.get("evaluation"))
nb.save_sweep(sweep)
display(sweep[sweep.ood_set == "average"].round(2))
display(sweep[~sweep.valid].drop_duplicates(["method", "value"])[["method", "value", "note"]])

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 4))
for ax, metric in zip(axes, ["auroc", "fpr95"]):
    # The mining methods in params.yaml order (the sweep's); rejected settings are marked with an x on the axis.
    figures.line_with_band(ax, sweep[sweep.ood_set == "average"], "value", metric, hue="method")
    ax.set(xlabel=f"fraction of the wild corpus kept (of {len(nb.study.corpus)} labels)",
           ylabel=f"average {metric.upper()} (%)")
axes[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1))
fig.suptitle(f"Average over OOD sets by corpus size ({nb.tag}, {backbone}; {figures.BAND_NOTE})")
fig.tight_layout()
nb.save_figure(fig, "average_over_ood_sets_by_corpus_size")
plt.show()
