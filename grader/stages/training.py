"""The training stage: each running training check trains the student's class in the sandbox.

A data pack (the images and labels the runs train on) and the reference calibration (the
reference trained identically, over several seeds) are built once per grader and reused; a
run that falls short of the bar is retried with the next seed (`RETRY_SEEDS`), and the best
run is kept with every attempt recorded.
"""

from __future__ import annotations

import json
import time
from typing import Any

from grader.checks.accuracy import RETRY_SEEDS, budget_of, thresholds
from grader.ingest.slicing import Program
from grader.plan import Plan
from grader.rubric.compile import check_uid
from grader.rubric.schema import CheckSpec
from grader.sandbox.tasks.train import normalise_budget
from grader.state import SubmissionRun
from grader.training.calibrate import calibrate
from grader.training.data import DataPack, build_pack
from grader.training.measured import train_request, training_measured
from grader.training.pictures import horse_grid

TRAINING_TIMEOUT_S = 600.0   # the least a training task is given, whatever the rubric's limit


class TrainingStage:
    """Trains students' classes for the plan's training checks; caches packs and calibrations."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._packs: dict[str, DataPack] = {}

    def pack(self, budget: dict[str, Any], num_colours: int) -> DataPack:
        key = json.dumps([budget, num_colours], sort_keys=True)
        if key not in self._packs:
            options = self.plan.options
            self._packs[key] = build_pack(options.data, options.colours, budget,
                                          num_colours=num_colours, seed=self.plan.rubric.seed,
                                          cache_dir=options.cache_dir)
        return self._packs[key]

    def calibration(self, spec: CheckSpec, threads: int | None = None
                    ) -> tuple[DataPack, dict[str, Any], list[Any], dict[str, Any]]:
        """(pack, reference calibration, args, budget) of a training check (cached)."""
        rubric, options = self.plan.rubric, self.plan.options
        target = rubric.targets[spec.target]
        config = spec.params.get("config") or next(iter(target.configs))
        args = target.args(config)
        budget = budget_of(spec.params, options.budget)
        pack = self.pack(budget, int(target.configs[config].get("num_colours", 24)))
        question = next(q for q in rubric.questions if spec in q.checks)
        shipped = (self.plan.compiled.get("expectations", {}).get(check_uid(question, spec))
                   or {}).get("calibration")
        if (shipped and (shipped.get("data") or {}).get("fingerprint") == pack.fingerprint
                and shipped.get("budget") == normalise_budget(budget)
                and shipped.get("args") == list(args)):
            return pack, shipped, args, budget   # compiled with the rubric: same data
        calibration = calibrate(target.reference, args, pack, budget,
                                seeds=int(spec.params.get("seeds") or 3), seed=rubric.seed,
                                config=config, cache_dir=options.cache_dir,
                                device=options.device, threads=threads)
        return pack, calibration, args, budget

    def prepare(self, threads: int | None = None) -> int:
        """Calibrate every running training check now (once, before workers start)."""
        count = 0
        for _, spec in self.plan.running("training"):
            self.calibration(spec, threads)
            count += 1
        return count

    def run(self, program: Program | None, run: SubmissionRun, sandbox: Any) -> None:
        """Train each target a running training check needs; results go into `run`."""
        if program is None:
            return
        plan = self.plan
        for question, spec in plan.running("training"):
            uid = check_uid(question, spec)
            target = plan.rubric.targets[spec.target]
            measured = run.measured.get(target.name) or {}
            if not measured.get("found") or measured.get("problem"):
                continue   # the check reports why the model could not be built
            t = time.monotonic()
            pack, calibration, args, budget = self.calibration(spec)
            limits = plan.limits.with_overrides(
                timeout=max(plan.limits.timeout, TRAINING_TIMEOUT_S))
            _, pass_at, _ = thresholds(calibration["val_acc"], spec.params)
            training: dict[str, Any] | None = None
            attempts = []
            for attempt in range(1 + RETRY_SEEDS):
                seed = plan.rubric.seed + attempt
                request = train_request(program, target.name, args, budget,
                                        aliases=target.aliases, seed=seed,
                                        device=plan.options.device)
                request["gpu_memory_fraction"] = round(0.9 / max(1, plan.options.gpu_jobs), 3)
                outcome = sandbox.run(request, files=pack.training_files(), limits=limits)
                run.add_resources(outcome)
                this = training_measured(outcome, program, target=target.name, pack=pack)
                attempts.append({"seed": seed, "val_acc": this.get("val_acc"),
                                 "problem": this.get("problem")})
                if training is None or (this.get("val_acc") or -1) > (
                        training.get("val_acc") or -1):
                    training = this
                # A failure of the student's code, a network the grader cannot score, or a
                # run that clears the bar, is final.
                if (this.get("problem") or this.get("review")
                        or (this.get("val_acc") or 0) >= pass_at):
                    break
            assert training is not None
            training["attempts"] = attempts
            run.timings["training_s"] += time.monotonic() - t
            run.device = training.get("device") or run.device
            run.problem(training.get("problem"))
            run.per_check[uid] = {**measured, "training": training}
            run.expected[uid] = {"calibration": calibration}
            grid = samples_picture(pack, calibration, training)
            if grid is not None:
                name = f"artifacts/samples_{target.name}.png"
                run.artifacts[name] = grid
                run.extra_details[uid] = {"samples": name}


def samples_picture(pack: DataPack, calibration: dict[str, Any], training: dict[str, Any]
                    ) -> bytes | None:
    """Greyscale inputs, the reference's and the student's colours, the truth (a PNG)."""
    count = len(calibration.get("samples") or [])
    if not count:
        return None
    samples = pack.samples(count)
    try:
        return horse_grid(samples["grey"], samples["true"], pack.palette,
                          reference=calibration.get("samples"),
                          student=training.get("samples"), n=min(8, count))
    except (ValueError, KeyError):
        return None
