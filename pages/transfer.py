"""Transfer learning with ResNet-18: frozen vs trainable parameters, feature extraction vs fine-tuning."""
from ui.shell import ensure_navigation  # first: sets the OpenMP wait policy before torch loads

# isort: split

import streamlit as st

from core.config import TRANSFER_STRATEGY_LABELS, TransferConfig
from core.figures.transfer import STATE_WORDS, frozen_map, strategy_curves
from core.transfer import STRATEGIES, strategy_code
from ui import transfer
from ui.code import code_panel

ensure_navigation()
st.title(":material/model_training: Transfer learning")
st.markdown("Take a network trained on one task, replace its last layer (`fc`) with a new head for your classes, "
            "and decide how much of the rest may change: **frozen** parameters keep what the network already "
            "learned, **trainable** ones adapt to the new task.")

weights_note, cifar_note = transfer.availability()
if weights_note or cifar_note:
    with st.expander("ImageNet weights or CIFAR-10 are not on this machine: this page uses the offline path",
                     icon=":material/cloud_off:"):
        for note in (weights_note, cifar_note):
            if note:
                st.markdown(note)
st.info("Offline path: a ResNet-18 **pretrained here on digits 0-4** (the bundled MNIST sample) is transferred to "
        "digits 5-9 with only a few labelled examples per class.", icon=":material/info:")

c1, c2, c3 = st.columns(3)
strategy = c1.selectbox("Strategy", list(STRATEGIES), format_func=TRANSFER_STRATEGY_LABELS.get, key="tl_strategy")
k = c2.slider("Stages to fine-tune (k)", 1, 4, 1, key="tl_k", disabled=strategy != "finetune",
              help="k = 1 unfreezes layer4, 2 adds layer3, then layer2, layer1")
labels = c3.select_slider("Labelled images per class", [10, 20, 50], 20, key="tl_labels")
c4, c5, c6 = st.columns(3)
epochs = c4.slider("Epochs", 1, 30, 10, key="tl_epochs")
head_lr = c5.select_slider("Head learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2], 1e-2 if strategy == "feature"
                           else 1e-3, key=f"tl_head_lr_{strategy == 'feature'}")
backbone_lr = c6.select_slider("Backbone learning rate", [1e-5, 3e-5, 1e-4, 3e-4, 1e-3], 1e-4, key="tl_bb_lr",
                               disabled=strategy in ("feature", "scratch"))
cfg = TransferConfig(strategy=strategy, k_stages=k if strategy == "finetune" else 1, head_lr=head_lr,
                     backbone_lr=backbone_lr, epochs=epochs, labels_per_class=labels,
                     weights="random" if strategy == "scratch" else "digits-pretrained")
st.caption(STRATEGIES[strategy].explain)

st.subheader("1 · Frozen vs trainable map")
rows, trainable, total = transfer.strategy_map(cfg.strategy, cfg.k_stages, 5)
st.metric("Trainable parameters", f"{trainable:,} of {total:,}", f"{100 * trainable / total:.2f}%",
          delta_color="off")
st.plotly_chart(frozen_map(rows), key="tl_map")
with st.expander("Every parameterized layer"):
    st.dataframe([{"layer": r.name or "resnet18", "type": r.kind, "depth": r.depth, "parameters": r.params,
                   "state": STATE_WORDS[r.trainable]} for r in rows], hide_index=True, width="stretch")
st.markdown("**Optimizer parameter groups**")
st.dataframe([{"group": g.name, "learning rate": g.lr, "parameters": g.n_params, "modules": ", ".join(g.modules)}
              for g in transfer.groups(cfg, 5)], hide_index=True, width="stretch")
st.caption("BatchNorm layers of frozen stages stay in eval mode during training, so their running mean and "
           "variance keep the pretrained statistics.")
code_panel(strategy_code(cfg, 5))

st.subheader("2 · Train and compare")
with st.form("tl_train"):
    go_train = st.form_submit_button("Train this strategy", icon=":material/play_arrow:")
if go_train:
    bar = st.progress(0.0, text="Pretraining on digits 0-4 (once per server), then training")
    run = transfer.train(cfg, lambda p: bar.progress(p.step / p.total_steps, text=f"epoch {p.epoch}: "
                                                     f"target accuracy {100 * (p.val_acc or 0):.1f}%"))
    bar.empty()
    if run.status != "ok":
        st.error(run.reason)
runs = transfer.trained_runs(cfg)
if not runs:
    st.caption("No strategy trained yet with these settings: press Train (a few seconds to a minute on a CPU).")
    st.stop()


def short(r) -> str:
    return r.config.label().split(" · ")[0] + f" ({r.config.epochs} ep, head lr {r.config.head_lr:g})"


st.plotly_chart(strategy_curves([(short(r), r.history.val_acc) for r in runs]), key="tl_curves")
st.dataframe([{"strategy": short(r), "target accuracy %": round(100 * r.metrics["test_acc"], 1),
               "wall s": round(r.metrics["wall_s"], 1), "trainable": r.metrics["trainable_params"],
               "images/s": round(r.metrics["images_per_s"])} for r in runs], hide_index=True, width="stretch")
best = max(runs, key=lambda r: r.metrics["test_acc"])
scratch = next((r for r in runs if r.config.strategy == "scratch"), None)
verdict = (f"**{short(best)}** reached {100 * best.metrics['test_acc']:.1f}% on digits 5-9 "
           f"in {best.metrics['wall_s']:.1f} s, training {best.metrics['trainable_params']:,} parameters")
if scratch is not None and scratch is not best:
    verdict += f", {100 * (best.metrics['test_acc'] - scratch.metrics['test_acc']):.1f} points above from scratch"
st.markdown(verdict + ".")
