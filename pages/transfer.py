"""Transfer learning with ResNet-18: frozen vs trainable parameters, feature extraction vs fine-tuning."""
from ui.shell import ensure_navigation  # first: sets the OpenMP wait policy before torch loads

# isort: split

import streamlit as st

from core.figures.images import mosaic
from core.figures.training import Curve, confusion, run_curves
from core.figures.transfer import STATE_WORDS, block_strip, frozen_map, gradient_norms, resolution_tradeoff
from core.transfer.code import strategy_code
from core.transfer.report import anatomy, conclusion
from core.transfer.resolution import resolution_conclusion, resolution_points, resolutions
from core.transfer.strategies import STRATEGIES
from ui import own_classes, transfer, transfer_data, transfer_results, transfer_runs
from ui.code import code_panel
from ui.path import next_step, stop_here
from ui.training import store_locked

K = "tl"  # widget-key prefix of this page

ensure_navigation()
st.title(":material/model_training: Transfer learning")
st.markdown("Take a network trained on one task, replace its last layer (`fc`) with a new head for your classes, "
            "and decide how much of the rest may change: **frozen** parameters keep what the network already "
            "learned, **trainable** ones adapt to the new task.")
cfg = transfer.controls()
if cfg is None:  # the route "Your own classes"
    own_classes.route()
    stop_here(__file__)
data = transfer_data.task_of(cfg)
classes = len(data.classes)
st.caption(f"{STRATEGIES[cfg.strategy].explain} {data.description}. {transfer.normalization_text(cfg)}")

st.subheader("1 · Frozen vs trainable map")
rows = transfer.layer_rows(cfg.strategy, cfg.k_stages, classes, cfg.resolution)
totals = transfer.totals(cfg.strategy, cfg.k_stages, classes)
trainable, total = totals[-1]["trainable"], totals[-1]["parameters"]
st.metric("Trainable parameters (this task)", f"{trainable:,} of {total:,}", f"{100 * trainable / total:.2f}% of "
          "the model", delta_color="off", delta_arrow="off")
st.plotly_chart(block_strip(rows), key=f"{K}_strip")
st.plotly_chart(frozen_map(rows), key=f"{K}_map")
st.dataframe(totals, hide_index=True, width="stretch", key=f"{K}_totals",
             column_config=transfer.totals_columns(cfg.strategy))
with st.expander("Every layer with parameters (containers included)"):
    st.dataframe([{"layer": r.name, "type": r.kind, "depth": r.depth, "parameters": r.total_params,
                   "trainable": r.trainable_params, "state": STATE_WORDS[r.trainable]}
                  for r in rows if r.total_params], hide_index=True, width="stretch", column_config=transfer.COUNTS)

st.subheader("2 · Architecture")
arch = anatomy(rows)
st.markdown(f"**{arch.weighted} weighted layers** ({arch.convs} conv + {arch.linears} fc), counted from the live "
            f"model; plus {arch.projections} 1×1 projection convs on skip paths (not counted in the 18). "
            f"{arch.blocks} **BasicBlocks**, each adding its input back: `out = relu(bn2(conv2(relu(bn1(conv1(x))))) "
            f"+ skip(x))`, where `skip` is the identity or, when the shape changes, `downsample` (1×1 conv + BN).")
st.dataframe(transfer.stage_rows(arch, cfg.resolution), hide_index=True, width="stretch", key=f"{K}_stages",
             column_config=transfer.totals_columns(cfg.strategy))

st.subheader("3 · Optimizer and code")
st.dataframe([{"group": g.name, "learning rate": g.lr, "parameters": g.n_params, "modules": ", ".join(g.modules)}
              for g in transfer.groups(cfg, classes)], hide_index=True, width="stretch", key=f"{K}_groups",
             column_config=transfer.totals_columns(cfg.strategy))
st.caption("BatchNorm layers of frozen stages stay in eval mode during training, so their running mean and "
           "variance keep the pretrained statistics.")
code_panel(strategy_code(cfg, classes))

st.subheader("4 · Train and compare")
run = transfer_runs.trained(cfg)
if run is not None:
    st.success(f"Loaded from the run store: {run.config.label()}.", icon=":material/save:")
    transfer_runs.estimate_vs_actual(cfg)
elif transfer_runs.running(cfg):
    transfer_runs.progress_view(cfg)
else:
    transfer_runs.job_notice(cfg)
    estimated = transfer_runs.estimate(cfg, data)
    st.caption(transfer_runs.estimate_text(cfg, data, estimated))
    locked = store_locked()  # a store that cannot be written: said, and the button disabled
    with st.form("tl_train"):
        if st.form_submit_button("Train this strategy", icon=":material/play_arrow:", type="primary", disabled=locked):
            transfer_runs.submit(cfg, estimated[0])  # trains in a worker process; this page only watches
            st.rerun()
runs = transfer_runs.trained_runs(cfg)
if runs:
    st.plotly_chart(run_curves([Curve.of(transfer_results.short_label(r.config), r.history) for r in runs],
                               chance=100 / classes, evaluated_on="test"),  # too few labels to hold some out
                    key=f"{K}_curves")
    st.container(key=f"{K}_results").dataframe(transfer_results.run_rows(runs), hide_index=True, width="stretch",
                                               key=f"{K}_runs", column_config=transfer_results.RUN_COLUMNS)
    st.markdown(conclusion(transfer_results.results(runs)))
points = resolution_points(transfer_runs.task_runs(cfg))  # this task's runs at every resolution: the trade-off
trade_off = resolution_conclusion(points, cfg.strategy, cfg.resolution)
if len(resolutions(points)) > 1:
    st.plotly_chart(resolution_tradeoff(points), key=f"{K}_resolution")
    st.markdown(trade_off)
else:
    st.caption(trade_off)
if run is None:
    st.caption("Train a strategy to see its gradients, filters, predictions and confusion matrix.")
    stop_here(__file__)

st.subheader("5 · Inside the trained model")
ev = transfer_results.evaluation(cfg)
st.plotly_chart(gradient_norms(ev.grads), key=f"{K}_grads")
left, right = st.columns(2)
left.plotly_chart(mosaic(ev.before, 8, title="conv1 filters before (first 16, summed over RGB)", colours="diverging"),
                  key=f"{K}_before")
right.plotly_chart(mosaic(ev.after, 8, title="conv1 filters after training", colours="diverging"), key=f"{K}_after")
st.plotly_chart(mosaic(ev.images, 8, titles=ev.titles, colours="ink", tile_label="test image",
                       title="Predictions on test images (predicted, true)" + (", in gray" if cfg.source == "cifar10"
                                                                                else "")), key=f"{K}_preds")
st.plotly_chart(confusion(ev.cm, labels=data.classes), key=f"{K}_cm")

next_step(__file__)
