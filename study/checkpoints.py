"""Checkpoints bounded by the trial's life: Tune keeps one per running trial
(`CheckpointConfig(num_to_keep=1)`) and this callback deletes it when the trial ends.

A checkpoint exists only to resume a crashed trial (study/trainable.py restores it on a retry);
once a trial has completed, or errored for good, nothing reads it again. Without this callback
every finished GLUE trial would leave its last checkpoint behind (T5-base with AdamW: 2.7 GB).
"""
from __future__ import annotations

import pyarrow.fs
from ray import tune


def delete_trial_checkpoints(trial) -> None:
    """Remove the `checkpoint_*` directories of a trial from its storage (local path or URI)."""
    fs, root = trial.storage.storage_filesystem, trial.storage.trial_fs_path
    infos = fs.get_file_info(pyarrow.fs.FileSelector(root, allow_not_found=True))
    dirs = [i.path for i in infos if i.type == pyarrow.fs.FileType.Directory and i.base_name.startswith("checkpoint_")]
    for path in dirs:
        fs.delete_dir(path)


class DropFinishedCheckpoints(tune.Callback):
    """Delete a trial's checkpoints once it has completed or errored for good (a trial that Tune
    retries goes through `on_trial_recover` instead and keeps its checkpoint)."""

    def on_trial_complete(self, iteration, trials, trial, **info):
        delete_trial_checkpoints(trial)

    def on_trial_error(self, iteration, trials, trial, **info):
        delete_trial_checkpoints(trial)
