# %% [markdown]
# # Main results: every method on every OOD set
#
# FPR95 (lower is better) and AUROC (higher is better) in %, ID = positive class (docs/methods.md §4). The numbers come from the `score` stages' DVC metrics files, methods in the order of `methods` in params.yaml. On the simulated benchmark they are **simulated**, not a reproduction of the paper; on `imagenet1k` with ViT-B-16 they are compared with the published numbers (docs/methods.md §6) cell by cell.

# %% tags=["parameters"]
# Papermill injects the real values; root=None finds the project root from the working folder (JupyterLab in notebooks/ works).
benchmark = "simulated"
backbone = "ViT-B-16"
root = None
params_path = None
dvc_stage = False  # the DVC stage sets True; a run by hand writes under results/interactive/

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from ood_study import figures, report
from ood_study.layout import study_name
from ood_study.notebook import setup

nb = setup("01_main_results", benchmark, backbone, root=root, params_path=params_path, dvc_stage=dvc_stage)

# %%
ood_sets = nb.params.sets(benchmark).ood
metrics = report.load_metrics(nb.layout, study_name(benchmark, backbone), nb.params.methods)
table = report.main_table(metrics, ood_sets)
intervals = report.interval_table(metrics, ood_sets)  # (low, high) of the 95 % bootstrap interval
title = report.caption(benchmark, backbone) + report.INTERVAL_NOTE
shown = report.with_seed_columns(table, metrics, ood_sets)  # + std over seeds of the average (seeded methods)
markdown = report.to_markdown(shown, title, intervals)
csv = nb.save_table(table.rename_axis("method"), "main_table", markdown=markdown)
nb.save_table(report.long_table(metrics, ood_sets), "main_table_intervals")  # value, low, high per cell
csv.with_suffix(".tex").write_text(report.to_latex(shown, title, intervals))
display(Markdown(markdown))

# %%
long = report.long_table(metrics, ood_sets).rename(columns={"low": "value_low", "high": "value_high"})
fig, axes = plt.subplots(1, 2, figsize=(14, 4.5))
for ax, metric in zip(axes, ["FPR95", "AUROC"]):
    rows = long[long.metric == metric]
    # points on an axis zoomed to the intervals: AUROCs of 88-99 % would be a sliver of 0-100 bars
    figures.bars_with_intervals(ax, rows, x="ood_set", metric="value", hue="method", kind="point",
                                order=[*ood_sets, "average"], hue_order=list(metrics))
    figures.zoom_to_intervals(ax, rows, "value")
    ax.set(xlabel="OOD set", ylabel=f"{metric} (%)", title=metric)
figures.legend_outside(axes[1], fontsize="small")
fig.suptitle(f"{nb.tag}, {backbone}: FPR95 (lower is better) and AUROC (higher is better); "
             "error bars: 95 % bootstrap interval over images", y=1.02)
nb.save_figure(fig, "main_results")
plt.show()

# %%
# Seed spread of the methods with random groups or a random stream (params.yaml `evaluation.n_seeds`).
seeds = report.seed_spread_table(metrics, ood_sets)
if len(seeds):
    md = report.to_markdown(seeds, f"{nb.tag}, {backbone}: " + report.SEED_NOTE)
    nb.save_table(seeds.rename_axis("method"), "seed_spread", markdown=md)
    display(Markdown(md))
else:
    print("No method has a seed spread (evaluation.n_seeds = 1, or no seeded method).")

# %%
# Side by side with the published numbers (real ImageNet-1k with ViT-B/16 only).
src = report.PUBLISHED_SOURCE
if benchmark == src["benchmark"] and backbone == src["backbone"]:
    for name, t in [("published", report.published_table()), ("ours_minus_published", report.comparison_table(table))]:
        md = report.to_markdown(t, name.replace("_", " "))
        nb.save_table(t.rename_axis("method"), name, markdown=md)
        display(Markdown(md))
    print("Unconfirmed published cells:", report.PUBLISHED_UNCONFIRMED)
else:
    print(f"No published numbers for {nb.tag} with {backbone}: nothing to compare.")
