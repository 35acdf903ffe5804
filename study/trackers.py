"""Opt-in experiment tracking (`--log-to mlflow,wandb,tensorboard`) through Ray Tune's logger callbacks.

- mlflow: `ray.air.integrations.mlflow.MLflowLoggerCallback`, one run per trial in the experiment
  `<study name>/<phase>`; the tracking URI is `$MLFLOW_TRACKING_URI`, else `mlflow.db` (SQLite) in
  the study directory (`mlflow ui --backend-store-uri sqlite:///<study>/mlflow.db`).
- wandb: `ray.air.integrations.wandb.WandbLoggerCallback`, project `$WANDB_PROJECT` or the study name;
  needs `WANDB_API_KEY` (or `wandb login`) on the driver, or `WANDB_MODE=offline`.
- tensorboard: `ray.tune.logger.TBXLoggerCallback`, event files in each trial directory
  (`tensorboard --logdir <storage>/<name>/ray`); needs tensorboardX.
Each backend is imported only when asked for; a missing package stops the launch with one line
(`pip install -e '.[tracking]'` installs mlflow-skinny, tensorboard and tensorboardX).
"""
from __future__ import annotations

import importlib.util
import os

from study.errors import SpecError
from study.spec import StudySpec

MLFLOW_DB = "mlflow.db"  # MLflow 3 retired its file store: a SQLite file in the study directory
PACKAGES = {"mlflow": "mlflow", "wandb": "wandb", "tensorboard": "tensorboardX"}


def check_installed(spec: StudySpec) -> None:
    """Refuse (exit 2) a tracker whose package is missing, before anything starts."""
    for tracker in spec.log_to:
        package = PACKAGES[tracker]
        if importlib.util.find_spec(package) is None:
            raise SpecError(f"--log-to {tracker} needs the {package} package: pip install {package}")


_STUDY_DBS: set[str] = set()  # the study databases this process has logged to


def tracker_callbacks(spec: StudySpec, phase: str) -> list:
    """The Ray Tune logger callbacks of the study's trackers, for one phase's Tuner."""
    callbacks = []
    if "mlflow" in spec.log_to:
        from ray.air.integrations.mlflow import MLflowLoggerCallback

        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not uri or uri in _STUDY_DBS:  # unset, or left behind by an earlier study of this process
            uri = f"sqlite:///{spec.study_dir / MLFLOW_DB}"  # (mlflow.set_tracking_uri sets the variable)
            _STUDY_DBS.add(uri)
        callbacks.append(MLflowLoggerCallback(tracking_uri=uri, experiment_name=f"{spec.name}/{phase}",
                                              tags={"study": spec.name, "phase": phase}))
    if "wandb" in spec.log_to:
        from ray.air.integrations.wandb import WandbLoggerCallback

        callbacks.append(WandbLoggerCallback(project=os.environ.get("WANDB_PROJECT") or spec.name, group=phase))
    if "tensorboard" in spec.log_to:
        from ray.tune.logger import TBXLoggerCallback

        callbacks.append(TBXLoggerCallback())
    return callbacks
