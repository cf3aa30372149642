"""What setup.sh runs once in the new image: check it, and build what grading needs offline.

A failure here fails the image build, where staff see it, instead of every student's run: the
torch pair the bundle pinned must be the one installed, the rubric and its compiled expectations
must load, and `--isolation bwrap` needs a working bubblewrap. With `--checks all` the data packs
and any reference calibration the shipped ones do not cover are built into `<root>/cache` now,
so that no run needs the network or trains the reference.
"""

from __future__ import annotations

from pathlib import Path

from grader.deploy.config import CONFIG_NAME, BundleConfig, source_dir
from grader.deploy.cpus import usable_cpus


def installed_torch() -> tuple[str, str]:
    """The torch and torchvision releases installed (local tags such as +cpu dropped)."""
    import torch
    import torchvision

    return torch.__version__.split("+")[0], torchvision.__version__.split("+")[0]


def prepare(root: Path) -> int:
    from grader.pipeline import Grader
    from grader.rubric.compile import load_compiled
    from grader.rubric.schema import load_rubric
    from grader.sandbox.launch import probe_bwrap

    root = Path(root)
    source = source_dir(root)
    config = BundleConfig.read(source / CONFIG_NAME)
    torch, torchvision = installed_torch()
    if (torch, torchvision) != (config.torch, config.torchvision):
        print(f"prepare: torch {torch} and torchvision {torchvision} are installed; the bundle "
              f"pinned {config.torch} and {config.torchvision}")
        return 1
    rubric = load_rubric(source / config.rubric)
    compiled = load_compiled(rubric, source / config.compiled, allow_compile=False)
    probe = probe_bwrap()
    if probe.works:
        print(f"prepare: sandbox: bubblewrap ({probe.version}) works in this image")
    else:
        print(f"prepare: sandbox: bubblewrap does not work here ({probe.reason}); student code "
              "will run under time and memory limits only, and every result will say so")
        if config.isolation == "bwrap":
            print("prepare: the bundle was built with --isolation bwrap: refusing")
            return 1
    if config.checks == "all":
        from grader.training.calibrate import calibration_runs

        options = config.options(root, threads=usable_cpus())
        with Grader(rubric, options=options, compiled=compiled) as grader:
            count = grader.prepare(options.threads)
        print(f"prepare: {count} training check(s) ready offline in {root / 'cache'} "
              f"({calibration_runs()} reference training run(s) needed beyond the shipped "
              "calibrations)")
    print(f"prepare: rubric {rubric.id}, --checks {config.checks}: ready")
    return 0
