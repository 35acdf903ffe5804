"""Command line: `python -m study launch | report DIR | list | data prepare`.

Bad input ends with exit code 2 and one line naming the problem: no traceback, no usage dump,
nothing written or started.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import re
import sys
from pathlib import Path

from study.errors import SpecError, did_you_mean

# May change on --resume; resources and concurrency apply to phases not started yet (Tune restores a
# started phase with its own settings).
RESUMABLE_FIELDS = {"address", "cpus_per_trial", "gpus_per_trial", "max_concurrent", "storage_is_shared",
                    "trial_timeout", "log_to", "bundle", "ladder"}  # a ladder added to a study runs only its missing rungs


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag as one line (exit 2) instead of a usage dump."""

    def error(self, message: str):
        raise SpecError(message + _suggestion(self, message))


def _long_options(parser: argparse.ArgumentParser) -> list[str]:
    """Every --flag of a parser and its subcommands."""
    names = []
    for action in parser._actions:
        names += [o for o in action.option_strings if o.startswith("--")]
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                names += _long_options(sub)
    return names


def _suggestion(parser: argparse.ArgumentParser, message: str) -> str:
    """"did you mean" for an unknown flag or command in argparse's message."""
    choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if choice:
        return did_you_mean(choice.group(1), re.findall(r"'([^']*)'", choice.group(2)))
    if message.startswith("unrecognized arguments:"):
        flags = [a.split("=")[0] for a in message.split(":", 1)[1].split() if a.startswith("--")]
        return next((hint for flag in flags if (hint := did_you_mean(flag, _long_options(parser)))), "")
    return ""


def _parser() -> argparse.ArgumentParser:
    from study.console import python_command

    parser = _Parser(prog=f"{python_command()} -m study", description="Fair, tuned optimizer comparisons on Ray Tune.")
    commands = parser.add_subparsers(dest="command", parser_class=_Parser)

    launch = commands.add_parser("launch", help="run (or --resume) a study and write its report")
    launch.add_argument("--preset", help="a named study (see `list`); default: quick")
    launch.add_argument("--config", help="a YAML file whose keys mirror these flags")
    launch.add_argument("--storage", help="directory (or URI) holding studies; default ./studies")
    launch.add_argument("--name", help="study name (a directory under --storage); default <preset>-<time>")
    launch.add_argument("--optimizers", help="comma-separated optimizer names")
    launch.add_argument("--tasks", help="comma-separated task names")
    launch.add_argument("--trials", type=int, help="tune trials per cell (equal for every cell)")
    launch.add_argument("--iid-trials", type=int, help="of those, the first R drawn i.i.d. at random")
    launch.add_argument("--epochs", type=int, help="training epochs per trial")
    launch.add_argument("--seeds", help="fresh seeds for the confirm, default and paper phases: a number, or `auto` "
                                        "(2 to 10: seeds in rounds until each claim is decided) or MIN-MAX")
    launch.add_argument("--paper-seeds", type=int, help="seeds of the paper phase (default: --seeds)")
    launch.add_argument("--phases", help="comma-separated subset of tune,confirm,default,paper")
    launch.add_argument("--address", help="Ray address: 'auto' or host:port joins a cluster; default a local Ray")
    launch.add_argument("--cpus-per-trial", type=float,
                        help="CPUs per trial; default 1, or on GPU nodes their CPUs shared among their trials")
    launch.add_argument("--gpus-per-trial", type=float, help="fractional values pack trials on one GPU")
    launch.add_argument("--max-concurrent", type=int,
                        help="at most this many trials at once; default as many as the resources fit")
    launch.add_argument("--bundle", type=int,
                        help="trials (configurations) per Ray trial, run back to back; default sized from "
                             "the measured trial length so that a Ray trial lasts ~5 s; 1: one each")
    launch.add_argument("--storage-is-shared", action="store_true", default=None,
                        help="assert that --storage is mounted on every node of the cluster")
    launch.add_argument("--fault-rate", type=float, help="crash this share of trials once (tests retries)")
    launch.add_argument("--resume", action="store_true", help="continue the study --name (default: the latest)")
    launch.add_argument("--retry-errored", action="store_true",
                        help="with --resume: rerun the trials recorded as errored (finished trials are kept)")
    launch.add_argument("--trial-timeout", type=float,
                        help="seconds per trial; a trial past it stops and is recorded status=timeout "
                             "(default per preset)")
    launch.add_argument("--log-to", help="comma-separated experiment trackers: mlflow, wandb, tensorboard")
    launch.add_argument("--ladder", help="protocol ladder: `default`, or a YAML file with a `ladder:` list of rungs "
                                         "(with --resume: runs only the rungs' missing trials)")
    launch.add_argument("--plugin", action="append", dest="plugins", metavar="PATH.py|MODULE",
                        help="load a plugin (optimizers, tasks, runners; see README); repeatable")
    launch.add_argument("--claims", help="a CSV of your own claims (the columns of reports/data/claims.csv)")

    plan = commands.add_parser("plan", help="dry run: cells, trials per phase and cost of a launch (starts nothing)")
    for action in launch._actions:  # the same flags as launch, so a plan matches the launch it precedes
        if action.option_strings and action.dest not in ("help", "resume", "retry_errored"):
            plan._add_action(action)
    plan.add_argument("--probe", action="store_true",
                      help="time one short trial per task on this machine to estimate device-hours")

    status = commands.add_parser("status", help="per phase and cell: done, running, errored, remaining, best")
    status.add_argument("dir", help="a study directory (safe while the study runs)")

    report = commands.add_parser("report", help="(re)write the report of a study directory")
    report.add_argument("dir", help="a study directory, e.g. studies/NAME")

    listing = commands.add_parser("list", help="presets, tasks, optimizers and their search spaces")
    listing.add_argument("what", nargs="?", choices=("presets", "tasks", "optimizers"), help="only this part")
    listing.add_argument("--plugin", action="append", dest="plugins", metavar="PATH.py|MODULE",
                         help="load a plugin first (installed entry points load anyway); repeatable")

    data = commands.add_parser("data", help="dataset cache")
    data_commands = data.add_subparsers(dest="data_command", parser_class=_Parser)
    prepare = data_commands.add_parser("prepare", help="download once and cache as uint8 tensors")
    prepare.add_argument("--datasets", required=True, help="comma-separated dataset names")
    prepare.add_argument("--data-dir", help="cache directory (default $STUDY_DATA_DIR or ~/.cache/optimizer-study)")
    return parser


def _latest_study(root: Path) -> str:
    studies = sorted(root.glob("*/study.json"), key=lambda p: p.stat().st_mtime) if root.is_dir() else []
    if not studies:
        raise SpecError(f"--resume: no study found in {root}")
    return studies[-1].parent.name


def _resume_spec(args, overrides: dict):
    """The saved spec of the study to resume; flags may repeat it, and change only runtime fields."""
    from reports.user_claims import USER_FILE
    from study import plugins
    from study.launch import load_state
    from study.spec import StudySpec, validate

    root = validate(StudySpec(storage=overrides.get("storage") or "studies"))
    storage = root.storage
    name = overrides.get("name") or _latest_study(root.studies_root)
    study_dir = StudySpec(storage=storage, name=name).study_dir
    state = load_state(study_dir)
    plugins.check_manifest(state.get("plugins") or [], name)  # before loading them: missing or changed
    spec = dict(state["spec"])
    if spec.get("claims") and (study_dir / USER_FILE).is_file():
        spec["claims"] = str(study_dir / USER_FILE)  # the claims as launched, wherever their file went since
    saved = validate(StudySpec(**{**spec, "storage": storage}))
    asked = validate(StudySpec(**{**saved.to_dict(), **overrides, "storage": storage, "name": name}))
    changed = sorted(k for k in overrides if k not in RESUMABLE_FIELDS and getattr(asked, k) != getattr(saved, k))
    changed += [flag for flag in ("preset", "config") if getattr(args, flag)]
    if changed:
        raise SpecError(f"--resume continues study {name!r} as it was specified; cannot change: {', '.join(changed)}")
    return asked


def cmd_launch(args) -> int:
    from study.spec import FIELDS, build_spec

    # every launch flag but --preset/--config/--resume is a spec field of the same name
    overrides = {k: v for k, v in vars(args).items() if k in FIELDS and k != "preset" and v is not None}
    if args.resume:
        spec = _resume_spec(args, overrides)
    else:
        spec = build_spec(args.preset, args.config, overrides)
        spec.name = spec.name or f"{spec.preset}-{datetime.datetime.now():%Y%m%d-%H%M%S}"

    from study import outcome
    from study.console import LOG_NAME, ray_logs_to, study_command
    from study.launch import StudyInterrupted, launch

    if args.retry_errored and not args.resume:
        raise SpecError("--retry-errored reruns errored trials of an existing study: add --resume")
    with ray_logs_to(spec.study_dir / LOG_NAME) as log_path:
        try:
            study_dir = launch(spec, resume=args.resume, retry_errored=args.retry_errored)
        except (KeyboardInterrupt, StudyInterrupted) as exc:
            if (spec.study_dir / "study.json").is_file():
                with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C skips the partial report
                    import reports

                    print(f"\npartial report: {reports.write_report(spec.study_dir, log=lambda _: None)['report.html']}")
            resume = study_command("launch", "--resume", "--name", spec.name, "--storage", spec.storage)
            print(f"{exc or 'interrupted'}; continue with: {resume}", file=sys.stderr, flush=True)
            return 130
        failed = outcome.summarize(study_dir, log_path)  # failure causes first: the answer ends the output
        code = _write_report(study_dir)
    return failed or code


def _write_report(study_dir: Path) -> int:
    """Write the report; print the study directory, the answer in a few lines, then the report's path."""
    import reports
    from study import outcome

    paths = reports.write_report(study_dir)
    print(f"\nstudy directory: {study_dir} ({', '.join(p.name for p in paths.values() if p.parent == study_dir)})")
    if "verdict.txt" in paths:
        print(outcome.answer_block(paths["verdict.txt"].read_text().splitlines()))
    if "report.html" in paths:
        print(f"report: {paths['report.html']}", flush=True)
    return 0


def cmd_report(args) -> int:
    study_dir = Path(args.dir).expanduser().resolve()
    if not study_dir.is_dir():
        raise SpecError(f"report: {args.dir} does not exist")
    if (study_dir / "study.json").is_file():
        from study import plugins
        from study.console import LOG_NAME, ray_logs_to
        from study.launch import load_state, refresh_records
        from study.lock import read_lock, stale_reason

        try:  # the report reads only records; its plugins' search spaces label the sensitivity plots
            plugins.ensure_loaded(load_state(study_dir).get("plugins") or [])
        except SpecError as exc:
            print(f"report: {exc}; the figures show the searched ranges as the records do", flush=True)

        holder = read_lock(study_dir)
        if holder and stale_reason(holder) is None:  # the driver writes the records: leave them to it
            print(f"study {study_dir.name} is running (driver pid {holder.get('pid')} on {holder.get('host')}): "
                  "the report covers the trials recorded so far; `study status` shows the running phase",
                  flush=True)
        else:
            with ray_logs_to(study_dir / LOG_NAME):  # Ray's warnings about unfinished trials
                refresh_records(study_dir)
    elif not (study_dir / "trials.csv").is_file():
        raise SpecError(f"report: {args.dir} is not a study directory (no study.json or trials.csv)")
    try:
        return _write_report(study_dir)
    except (ValueError, OSError) as exc:  # malformed or unreadable records
        raise SpecError(f"report: {exc}") from None


def _seeds_words(seeds) -> str:
    """`2`, or `2-5 (auto)` for a preset's seeds: {min, max}."""
    return f"{seeds['min']}-{seeds['max']} (auto)" if isinstance(seeds, dict) else str(seeds)


def cmd_list(args) -> int:
    import search_spaces
    from study import plugins
    from study.presets import PRESETS
    from study.tasks import GLUE_TASKS, OFFLINE_DATASETS, THERMOLION_DATASETS, VISION_MODELS, parse_task, task_names

    plugins.load_all(args.plugins or [])
    what = args.what
    if what in (None, "presets"):
        print("presets:")
        for name, values in PRESETS.items():
            print(f"  {name}: {len(values['tasks'])} task(s) x {len(values['optimizers'])} optimizer(s), "
                  f"{values['trials']} trials/cell, {values['epochs']} epochs, {_seeds_words(values['seeds'])} seeds")
    if what in (None, "tasks"):
        print("tasks: <dataset>[-<model>] or glue-<task> (built-in), or a plugin's")
        print(f"  datasets: {', '.join(THERMOLION_DATASETS + OFFLINE_DATASETS)}")
        print(f"  models: {', '.join(VISION_MODELS)} (default convnet)")
        print(f"  glue: {', '.join('glue-' + t for t in GLUE_TASKS)}")
        for task in map(parse_task, task_names()):
            if task.origin != search_spaces.registry.BUILT_IN:
                print(f"  {task.name} ({task.runner} runner): from {task.origin}")
    if what in (None, "optimizers"):
        print("optimizers and search spaces:")
        for name in search_spaces.names():
            ranges = "; ".join(f"{k} {v}" for k, v in search_spaces.describe(name).items())
            origin = search_spaces.origin(name)
            print(f"  {name}{'' if origin == 'built-in' else f' (from {origin})'}: {ranges}")
    return 0


def cmd_data(args) -> int:
    if args.data_command != "prepare":
        raise SpecError("data: the only command is `data prepare --datasets ...`")
    from runners import vision_data

    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    unknown = [d for d in names if d not in vision_data.DATASETS]
    if unknown:
        raise SpecError(f"unknown dataset {unknown[0]!r}{did_you_mean(unknown[0], vision_data.DATASETS)}; datasets: {', '.join(vision_data.DATASETS)}")
    try:
        vision_data.prepare(names, args.data_dir or vision_data.default_data_dir())
    except (RuntimeError, OSError) as exc:  # offline, a full disk, a bad archive: one line, keep what is cached
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    return 0


def cmd_plan(args) -> int:
    from study.plan import print_plan
    from study.spec import FIELDS, build_spec

    overrides = {k: v for k, v in vars(args).items() if k in FIELDS and k != "preset" and v is not None}
    spec = build_spec(args.preset, args.config, overrides)
    spec.name = spec.name or f"{spec.preset}-plan"  # names nothing on disk: plan writes no study
    return print_plan(spec, probe=args.probe)


def cmd_status(args) -> int:
    from study.status import print_status

    return print_status(Path(args.dir).expanduser().resolve())


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        command = {"launch": cmd_launch, "report": cmd_report, "list": cmd_list, "data": cmd_data,
                   "plan": cmd_plan, "status": cmd_status}.get(args.command)
        if command is None:
            raise SpecError("a command is required: launch, report DIR, list or data prepare")
        return command(args)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
