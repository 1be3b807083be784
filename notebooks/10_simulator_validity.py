# %% [markdown]
# # Does the simulated world predict what it was not fitted to?
#
# The simulated world's OOD sets have three parameters each (how close their images sit to an ID class, how much of them no corpus word names, their image noise), **fitted to the 16 published per-set numbers of MCM and NegLabel only** (`python -m ood_study.calibrate`; the protocol, frozen before the fit, is in `docs/simulation.md`). CSP, AdaNeg and DNM never entered the fit: their published per-set numbers test the world.
#
# Both worlds are scored here, in process, from the same text features and negatives (only the OOD images differ): the **fitted** world (params.yaml's default) and the **a-priori** world (`simulation.world: a_priori`, calibrated to CLIP's ID statistics only). For each: the held-out table (simulated with 95 % bootstrap intervals beside published), the mean absolute AUROC / FPR95 error per method, per-set Kendall's tau of the methods' AUROC order, and the share of (set, method pair) comparisons with a held-out method that keep the published order. Targets (protocol): CSP and AdaNeg mean absolute AUROC error <= 2 points; >= 80 % of the comparisons in the published order.
#
# Every simulated number is SIMULATED, not a reproduction of any paper.

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
from IPython.display import Markdown, display

from ood_core import methods as method_registry
from ood_study import validity, worlds
from ood_study.notebook import setup
from ood_study.params import SIMULATED

nb = setup("10_simulator_validity", benchmark, backbone, root=root, params_path=params_path, dvc_stage=dvc_stage)
compared = [*validity.FITTED_TO, *validity.HELD_OUT]
results = {}  # world -> method -> per-set metrics; empty off the simulated benchmark
if benchmark == SIMULATED:
    fitted = worlds.simulated_study(nb.params, "fitted", nb.layout, backbone)
    studies = {"fitted": fitted, "a_priori": worlds.with_world(fitted, nb.params, "a_priori")}
    negatives = worlds.mine_negatives(fitted, nb.params, compared, backbone)  # the same in both worlds
    results = {w: worlds.world_metrics(s, negatives, nb.params, compared, backbone) for w, s in studies.items()}
else:
    print(f"{nb.tag}: notebook 10 asks a question of the simulated world only; nothing to do")

# %% [markdown]
# ## The held-out tables, one per world

# %%
summary = []
for world, simulated in results.items():
    title = f"{nb.tag}, {world} world, {backbone}: held-out methods vs published, FPR95 / AUROC in %"
    section = validity.report_section(simulated, title)
    (nb.output_dir / "tables").mkdir(parents=True, exist_ok=True)
    (nb.output_dir / "tables" / f"heldout_{world}.md").write_text(section)
    nb.save_table(validity.heldout_table(simulated, compared), f"heldout_{world}")
    display(Markdown(section))
    errors = validity.error_summary(validity.heldout_table(simulated, compared))
    _, fraction = validity.rank_agreement(validity.auroc_long(simulated))
    summary.append({"world": world, **{f"{m}_auroc_mae": errors.loc[m, "auroc_mae"] for m in compared},
                    **{f"{m}_fpr95_mae": errors.loc[m, "fpr95_mae"] for m in compared},
                    "order_agreement_pct": 100 * fraction})
if summary:
    summary = pd.DataFrame(summary).set_index("world")
    nb.save_table(summary, "validity_summary")
    display(summary.round(2).T)

# %% [markdown]
# ## Simulated against published AUROC, both worlds

# %%
if results:
    fig, axes = plt.subplots(1, 2, figsize=(12, 5), sharex=True, sharey=True)
    for ax, (world, simulated) in zip(axes, results.items()):
        table = validity.heldout_table(simulated, compared).dropna(subset=["auroc_pub"])
        for m, rows in table.groupby("method", sort=False):
            ax.errorbar(rows.auroc_pub, rows.auroc, yerr=[rows.auroc - rows.auroc_low, rows.auroc_high - rows.auroc],
                        fmt="o" if m in validity.FITTED_TO else "s", capsize=3, color=method_registry.get(m).color,
                        label=f"{method_registry.get(m).title} ({'fitted to' if m in validity.FITTED_TO else 'held out'})")
        lo, hi = 84, 100.5
        ax.plot([lo, hi], [lo, hi], "-", color="0.3", lw=1)
        ax.fill_between([lo, hi], [lo - 2, hi - 2], [lo + 2, hi + 2], color="0.5", alpha=0.12, label="± 2 points")
        ax.set(xlim=(lo, hi), ylim=(lo - 10, hi), xlabel="published AUROC (%)", ylabel="simulated AUROC (%)",
               title=f"{world} world")
    axes[0].legend(fontsize="small")
    fig.suptitle(f"Per-set AUROC, simulated vs published ({nb.tag}, {backbone})")
    fig.tight_layout()
    nb.save_figure(fig, "simulated_vs_published")
    plt.show()
else:  # the stage's figure folder is a DVC output: say in it why this benchmark has no comparison
    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, f"{nb.tag}: notebook 10 compares the simulated world with published numbers;\n"
            "it has nothing to compare on this benchmark", ha="center", va="center")
    nb.save_figure(fig, "not_applicable")
    plt.show()
