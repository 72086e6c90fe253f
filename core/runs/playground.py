"""A Playground network as a stored run: what it records, honestly.

History: `step_loss` holds every batch's loss (steps_per_epoch per epoch), `val_loss` the loss on the test points
after each epoch, `val_acc` the test accuracy after each epoch for classification and nothing for regression (which
has no accuracy). Metrics: the final test loss, the test accuracy for classification, the seconds spent training
(the wall time of a run you paused and played is the same seconds: time paused is not the run's). A network that
does no better than the best constant guess is stored as "did not learn".
"""
from __future__ import annotations

from core.errors import InputError
from core.lessons.playground.config import MAX_SEGMENTS
from core.lessons.playground.live import MAX_STEPS_KEPT, Snapshot
from core.lessons.playground.network import NOT_LEARNED
from core.training.record import History, Run


def playground_run(snap: Snapshot, device: str) -> Run:
    """The run record of a snapshot; InputError (plain words) when it cannot be stored."""
    if snap.epoch == 0:
        raise InputError("Train the network first (Play or Step): a network of 0 epochs is not a run.")
    if len(snap.step_loss) != snap.steps_per_epoch * snap.epoch:
        raise InputError(f"This network trained more than {MAX_STEPS_KEPT:,} steps (batches), the most a stored run "
                         "records: press Reset and save it earlier, or use larger batches.")
    run_cfg = snap.run
    if len(run_cfg.segments) > MAX_SEGMENTS:
        raise InputError(f"The learning rate or regularization changed more than {MAX_SEGMENTS - 1} times while it "
                         "trained, more than a stored run records: press Reset to store a new one.")
    classification = snap.cfg.problem == "classification"
    history = History([float(v) for v in snap.step_loss], snap.steps_per_epoch,
                      [float(v) for v in snap.test_loss[1:]],
                      [float(v) for v in snap.test_acc[1:]] if classification else [])
    n_train = snap.cfg.n_train
    train_s = max(snap.train_s, 1e-6)
    metrics: dict[str, float | str] = {
        "test_loss": float(snap.test_loss[-1]), "train_s": train_s, "wall_s": train_s,
        "samples_per_s": n_train * snap.epoch / train_s, "device": device, "n_train": n_train,
        "n_test": snap.cfg.points - n_train}
    if classification:
        metrics["test_acc"] = float(snap.test_acc[-1])
    status = "did-not-learn" if snap.test_loss[-1] >= NOT_LEARNED * snap.baseline else "ok"
    return Run(run_cfg, snap.state, history, metrics, status)
