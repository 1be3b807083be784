# %% [markdown]
# # Backbones
#
# The main table's averages over the OOD sets for every backbone in params.yaml whose metrics exist (a backbone not scored yet is skipped with a note), methods in the order of `methods` in params.yaml. Each average is drawn as a point with its 95 % bootstrap interval over images (from the metrics files): on a 0–100 % bar the intervals would be invisible.

# %% tags=["parameters"]
# Papermill injects the real values; root=None finds the project root from the working folder (JupyterLab in notebooks/ works).
benchmark = "simulated"
backbone = None
root = None
params_path = None
dvc_stage = False  # the DVC stage sets True; a run by hand writes under results/interactive/

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from ood_study import figures, report
from ood_study.layout import study_name
from ood_study.notebook import setup

nb = setup("07_backbones", benchmark, backbone, root=root, params_path=params_path, dvc_stage=dvc_stage)

# %%
ood_sets = nb.params.sets(benchmark).ood
by_backbone = {}
for bb in nb.params.backbones:
    try:
        by_backbone[bb] = report.load_metrics(nb.layout, study_name(benchmark, bb), nb.params.methods)
    except FileNotFoundError as err:
        print(f"skipping {bb}: {err}")
table = report.backbone_table(by_backbone)
markdown = report.to_markdown(table, f"{nb.tag}: average over the OOD sets by backbone, FPR95 / AUROC in %")
nb.save_table(table.rename_axis("method"), "backbones", markdown=markdown)
display(Markdown(markdown))

# %%
long = pd.concat([report.long_table(m, ood_sets).assign(backbone=bb) for bb, m in by_backbone.items()],
                 ignore_index=True)
avg = long[long.ood_set == "average"]
fig, axes = plt.subplots(1, 2, figsize=(5 + 1.5 * len(by_backbone), 4) if len(by_backbone) > 1 else (10, 4))
for ax, metric in zip(axes, ["FPR95", "AUROC"]):
    # report.long_table holds one metric per row (value, low, high): the helper reads METRIC, METRIC_low, METRIC_high.
    rows = avg[avg.metric == metric].rename(columns={"value": metric, "low": f"{metric}_low", "high": f"{metric}_high"})
    figures.bars_with_intervals(ax, rows, "backbone", metric, kind="point", hue_order=nb.params.methods)
    ax.set(title=metric, xlabel="backbone", ylabel=f"average {metric} (%)")
axes[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1))
fig.suptitle(f"Average over OOD sets by backbone ({nb.tag}; error bars: 95 % bootstrap interval over images)")
fig.tight_layout()
nb.save_figure(fig, "backbones")
plt.show()
