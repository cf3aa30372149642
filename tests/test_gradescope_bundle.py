"""The Gradescope autograder: the results.json it writes, the zip, and the zip run end to end.

The end-to-end tests unpack the built zip into a folder that stands in for /autograder, run its
`run_autograder` as Gradescope would (without setup.sh: this interpreter stands in for the
image's venv, through GRADER_PYTHON), and read back results.json. A static bundle carries no
reference solution, so those runs also block `import reference`, as in the image.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest

from grader.deploy.bundle import build_bundle
from grader.deploy.cli import main as gradescope_main
from grader.deploy.config import CONFIG_NAME, TORCH, TORCH_INDEX, TORCHVISION, BundleError
from grader.deploy.cpus import usable_cpus
from grader.deploy.metadata import SubmissionMetadata
from grader.deploy.runner import failure_document, run
from grader.reports.gradescope import (
    POOLED_NAME,
    isolation_line,
    md_text,
    to_gradescope,
    validate_gradescope,
)
from grader.result import Adjustment
from grader.rubric.schema import GradescopeSettings
from tests import reports_factory as factory
from tests.pipeline_factory import reference_notebook

RUBRIC = "csc413-2023-a2"
ROOT = Path(__file__).resolve().parents[1]
DEADLINE = "2023-03-10T17:00:00-05:00"
LATE_POLICY = f"""
late:
  deadline: "{DEADLINE}"
  per: day
  penalty: 10
"""
NO_REFERENCE = """import sys


class _NotInTheImage:
    def find_spec(self, name, path=None, target=None):
        if name == "reference" or name.startswith("reference."):
            raise ImportError(f"{name} is not in a static Gradescope bundle")
        return None


sys.meta_path.insert(0, _NotInTheImage())
"""


# --------------------------------------------------------------------------- results.json
def _fully_hidden(result):
    return [(q, i, c) for q in result.questions for i, c in enumerate(q.checks, 1)
            if c.visibility == "hidden" and c.feedback == "none"]


def test_fully_hidden_checks_are_pooled_into_one_visible_test():
    result = factory.typed(factory.failing_result())
    hidden = _fully_hidden(result)
    assert hidden, "the factory's class rubric has checks with feedback none"
    doc = to_gradescope(result)
    assert validate_gradescope(doc) == []
    assert all(t["visibility"] != "hidden" for t in doc["tests"])   # the total stays visible
    pooled = [t for t in doc["tests"] if t["name"] == POOLED_NAME]
    assert len(pooled) == 1
    assert set(pooled[0]) == {"score", "max_score", "name", "output", "visibility"}
    assert pooled[0]["visibility"] == "visible"
    assert pooled[0]["score"] == pytest.approx(sum(c.score for _, _, c in hidden))
    assert pooled[0]["max_score"] == pytest.approx(sum(c.max_score for _, _, c in hidden))
    numbers = {t.get("number") for t in doc["tests"]}
    assert not numbers & {f"{q.id}.{i}" for q, i, _ in hidden}
    assert sum(t["score"] for t in doc["tests"]) == pytest.approx(result.score, abs=1e-5)
    assert sum(t["max_score"] for t in doc["tests"]) == pytest.approx(result.max_score)


def test_hide_total_keeps_each_fully_hidden_check_hidden():
    result = factory.typed(factory.failing_result())
    doc = to_gradescope(result, GradescopeSettings(hide_total=True))
    assert validate_gradescope(doc) == []
    hidden = [t for t in doc["tests"] if t["visibility"] == "hidden"]
    assert [t["number"] for t in hidden] == [f"{q.id}.{i}" for q, i, _ in _fully_hidden(result)]
    assert POOLED_NAME not in {t["name"] for t in doc["tests"]}


def test_a_late_penalty_lowers_the_score_and_is_shown():
    result = factory.typed(factory.passing_result())
    late = Adjustment(kind="late", points=-0.3, reason="submitted 1 d 2 h late: 1 day × 10 %")
    doc = to_gradescope(replace(result, adjustments=[late]))
    assert validate_gradescope(doc) == []
    assert doc["score"] == pytest.approx(result.score - 0.3)
    assert "Late penalty: \u22120.30 points: submitted 1 d 2 h late" in doc["output"]
    assert f"**Final score: {result.score - 0.3:.2f}**" in doc["output"]
    assert doc["extra_data"]["checks_score"] == pytest.approx(result.score)
    assert doc["extra_data"]["adjustments"][0]["points"] == -0.3


def test_markdown_output_shows_code_as_written():
    assert md_text("PoolUpsampleNet.__init__.<locals>") == \
        "PoolUpsampleNet.\\_\\_init\\_\\_.\\<locals\\>"
    assert md_text("no class `UNet` is defined") == "no class `UNet` is defined"
    assert md_text("a*b\nc") == "a\\*b  \nc"
    doc = to_gradescope(factory.typed(factory.crashing_result()))
    assert doc["output_format"] == doc["test_output_format"] == "md"
    assert "```text\nCell 12, line 27, in PoolUpsampleNet.forward" in doc["tests"][0]["output"]


def test_the_sandbox_in_force_is_named():
    assert "bubblewrap" in isolation_line({"mechanism": "bwrap", "warnings": []})
    line = isolation_line({"mechanism": "none", "warnings": ["NO SANDBOX ISOLATION (no userns)"]})
    assert "NO isolation" in line and "no userns" in line
    assert "not recorded" in isolation_line({})
    doc = to_gradescope(factory.typed(factory.passing_result()))
    assert "Sandbox: bubblewrap" in doc["output"]


def test_the_failure_document_is_valid():
    doc = failure_document("the grader exited with status 137", 1.5, RUBRIC,
                           detail="MemoryError")
    assert validate_gradescope(doc) == []
    assert doc["score"] == 0 and doc["tests"][0]["max_score"] == 1.5
    assert "Course staff will review it" in doc["output"]
    assert "MemoryError" not in doc["output"] and doc["extra_data"]["grader_failure"] == \
        "MemoryError"


# --------------------------------------------------------------------------- metadata
def _metadata(created_at: str = "2023-03-10T16:59:00.000000-05:00", **user: object) -> dict:
    """submission_metadata.json as Gradescope documents it."""
    person = {"email": "ada.lovelace@example.edu", "id": 7781, "name": "Ada Lovelace",
              "sid": "1001234567", **user}
    return {"id": 123456, "created_at": created_at,
            "assignment": {"due_date": "2023-03-10T17:00:00.000000-05:00",
                           "late_due_date": None, "title": "PA2", "id": 25828,
                           "group_submission": False, "group_size": None,
                           "release_date": "2023-02-20T09:00:00.000000-05:00",
                           "total_points": "3.0"},
            "submission_method": "upload",
            "users": [{k: v for k, v in person.items() if v is not None}],
            "previous_submissions": [{"submission_time": "2023-03-09T10:00:00.000000-05:00",
                                      "score": 0.5, "results": {}}]}


def test_metadata_names_the_student():
    meta = SubmissionMetadata.from_dict(_metadata())
    assert meta.student == "1001234567"
    origin = meta.origin()
    assert (origin.layout, origin.name, origin.lms_id) == ("gradescope", "Ada Lovelace", "123456")
    assert origin.submitted_at == "2023-03-10T16:59:00.000000-05:00"
    assert meta.previous_submissions == 1
    assert SubmissionMetadata.from_dict(_metadata(sid=None)).student == "ada.lovelace"
    assert SubmissionMetadata.from_dict(_metadata(sid=None, email=None)).student == "7781"
    group = _metadata()
    group["users"].append({"email": "cb@example.edu", "id": 2, "name": "Charles Babbage"})
    assert SubmissionMetadata.from_dict(group).names == "Ada Lovelace, Charles Babbage"
    odd = SubmissionMetadata.from_dict({"users": "nobody", "assignment": [1]})
    assert odd.student is None and odd.due_date is None


def test_cpus_follow_the_container_quota(tmp_path):
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert usable_cpus(tmp_path) == 1
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert usable_cpus(tmp_path) == len(os.sched_getaffinity(0))


# --------------------------------------------------------------------------- the zip
@pytest.fixture(scope="module")
def late_rubric(tmp_path_factory) -> Path:
    """The shipped rubric with a late policy (not part of the grading text: the shipped
    compiled expectations still apply)."""
    path = tmp_path_factory.mktemp("rubric") / f"{RUBRIC}.yaml"
    path.write_text((ROOT / "rubrics" / f"{RUBRIC}.yaml").read_text(encoding="utf-8")
                    + LATE_POLICY, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def bundle(late_rubric, tmp_path_factory):
    return build_bundle(late_rubric, tmp_path_factory.mktemp("zip") / "autograder.zip")


def test_the_zip_holds_the_contract_and_no_more(bundle, tmp_path):
    names = set(bundle.entries)
    with zipfile.ZipFile(bundle.path) as archive:
        assert set(archive.namelist()) == names
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
        setup = archive.read("setup.sh").decode()
        config = json.loads(archive.read(CONFIG_NAME))
    assert {"setup.sh", "run_autograder", CONFIG_NAME, "pyproject.toml", "README.md",
            f"rubrics/{RUBRIC}.yaml", f"rubrics/compiled/{RUBRIC}.json",
            "grader/deploy/runner.py", "grader/reports/templates/report.html.j2"} <= names
    tops = {n.split("/")[0] for n in names}
    assert not tops & {"tests", "benchmarks", "submissions", "scripts", "examples", "reference"}
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert stat.S_IMODE(modes["setup.sh"]) == stat.S_IMODE(modes["run_autograder"]) == 0o755
    for pin in (f"torch=={TORCH}", f"torchvision=={TORCHVISION}", TORCH_INDEX, "bubblewrap"):
        assert pin in setup
    assert config["rubric_id"] == RUBRIC and config["checks"] == "static"
    assert config["assessed_max_score"] == pytest.approx(1.5)
    assert config["max_score"] == pytest.approx(4.5)
    root = unpack(bundle.path, tmp_path / "autograder")
    for script in ("setup.sh", "run_autograder"):
        path = root / "source" / script
        assert os.access(path, os.X_OK)
        check = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr


def test_the_zip_is_reproducible_and_all_checks_carry_the_reference(bundle, late_rubric,
                                                                    tmp_path):
    again = build_bundle(late_rubric, tmp_path / "again.zip")
    assert again.path.read_bytes() == bundle.path.read_bytes()
    full = build_bundle(RUBRIC, tmp_path / "all.zip", checks="all", memory="2G")
    assert "reference/models.py" in full.entries and "reference/synthetic.py" in full.entries
    assert full.config.assessed_max_score == pytest.approx(4.5)
    assert full.config.memory == "2G"


def test_build_refuses_a_stale_compiled_rubric(tmp_path):
    text = (ROOT / "rubrics" / f"{RUBRIC}.yaml").read_text(encoding="utf-8")
    stale = tmp_path / f"{RUBRIC}.yaml"
    stale.write_text(text.replace("points: 0.5", "points: 0.75", 1), encoding="utf-8")
    with pytest.raises(BundleError, match="grader compile"):
        build_bundle(stale, tmp_path / "stale.zip")


def test_the_cli_builds_and_reports_the_points(tmp_path, capsys):
    out = tmp_path / "ag.zip"
    assert gradescope_main(["build", "--rubric", RUBRIC, "--out", str(out)]) == 0
    assert out.is_file()
    assert "set the assignment's autograder points to 1.5" in capsys.readouterr().out
    assert gradescope_main(["build", "--rubric", "no-such-rubric", "--out", str(out)]) == 2
    assert gradescope_main(["build", "--rubric", RUBRIC, "--memory", "lots",
                            "--out", str(out)]) == 2


# --------------------------------------------------------------------------- end to end
def unpack(zip_path: Path, root: Path) -> Path:
    """The zip as Gradescope lays it out: /autograder/source, with the files' modes kept."""
    source = root / "source"
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            target = source / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))
            target.chmod(stat.S_IMODE(info.external_attr >> 16) or 0o644)
    (root / "submission").mkdir(parents=True, exist_ok=True)
    return root


def broken_notebook(path: Path) -> Path:
    """A student's notebook: PoolUpsampleNet with average pooling in block 2 (the handout has
    max pooling), ConvTransposeNet with a syntax error, no UNet."""
    pool = """class PoolUpsampleNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels):
        super().__init__()
        pad, nf, nc = kernel // 2, num_filters, num_colours
        self.down1 = nn.Sequential(nn.Conv2d(num_in_channels, nf, kernel, padding=pad),
                                   nn.MaxPool2d(2), nn.BatchNorm2d(nf), nn.ReLU())
        self.down2 = nn.Sequential(nn.Conv2d(nf, 2 * nf, kernel, padding=pad),
                                   nn.AvgPool2d(2), nn.BatchNorm2d(2 * nf), nn.ReLU())
        self.up1 = nn.Sequential(nn.Conv2d(2 * nf, nf, kernel, padding=pad),
                                 nn.Upsample(scale_factor=2), nn.BatchNorm2d(nf), nn.ReLU())
        self.up2 = nn.Sequential(nn.Conv2d(nf, nc, kernel, padding=pad),
                                 nn.Upsample(scale_factor=2), nn.BatchNorm2d(nc), nn.ReLU())
        self.out = nn.Conv2d(nc, nc, kernel, padding=pad)

    def forward(self, x):
        return self.out(self.up2(self.up1(self.down2(self.down1(x)))))"""
    convt = """class ConvTransposeNet(nn.Module):
    def __init__(self, kernel, num_filters, num_colours, num_in_channels)
        super().__init__()"""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# PA2: CNNs"),
                nbformat.v4.new_code_cell("import torch\nimport torch.nn as nn"),
                nbformat.v4.new_code_cell(pool), nbformat.v4.new_code_cell(convt)]
    nbformat.write(nb, path)
    return path


def autograde(bundle_zip: Path, root: Path, files: list[Path], *,
              metadata: dict | None = None, python: str = sys.executable,
              block_reference: bool = True, faults: str | None = None) -> dict:
    """Run the bundle's run_autograder on `files` as Gradescope would; its results.json."""
    unpack(bundle_zip, root)
    for path in files:
        shutil.copy(path, root / "submission" / path.name)
    if metadata is not None:
        (root / "submission_metadata.json").write_text(json.dumps(metadata))
    env = {k: v for k, v in os.environ.items() if k not in ("GRADER_FAULTS", "PYTHONPATH")}
    env.update(GRADER_PYTHON=python, GRADER_AUTOGRADER_ROOT=str(root))
    if block_reference:
        (root / "blocker").mkdir()
        (root / "blocker" / "sitecustomize.py").write_text(NO_REFERENCE)
        env["PYTHONPATH"] = str(root / "blocker")
    if faults:
        env["GRADER_FAULTS"] = faults
    done = subprocess.run([str(root / "source" / "run_autograder")], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads((root / "results" / "results.json").read_text())
    assert validate_gradescope(doc) == [], (doc, done.stdout, done.stderr)
    return doc


def test_prepare_checks_the_image(bundle, tmp_path):
    root = unpack(bundle.path, tmp_path / "autograder")
    done = subprocess.run([sys.executable, "-m", "grader.deploy.cli", "prepare", "--root",
                           str(root)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sandbox:" in done.stdout and "ready" in done.stdout


@pytest.mark.slow
def test_a_correct_notebook_gets_full_marks_for_the_static_checks(bundle, tmp_path):
    from grader.sandbox.launch import probe_bwrap

    doc = autograde(bundle.path, tmp_path / "autograder", [reference_notebook(RUBRIC)],
                    metadata=_metadata())
    tests = doc["tests"]
    assert tests and all(t["score"] == pytest.approx(t["max_score"]) for t in tests)
    assert doc["score"] == pytest.approx(1.5)
    assert sum(t["max_score"] for t in tests) == pytest.approx(1.5, abs=1e-4)   # 6 decimals each
    extra = doc["extra_data"]
    assert len(extra["key"]) == 64 and extra["status"] == "graded"
    assert extra["student"] == "1001234567" and extra["adjustments"] == []
    assert extra["isolation"] == ("bwrap" if probe_bwrap().works else "none")
    assert ("Sandbox: bubblewrap" if probe_bwrap().works else "NO isolation") in doc["output"]
    # training checks need --checks all; the written ones, the reference models
    assert "Not assessed in this run (not zero): 4.2, 4.3, 5.2, 5.4, 6.2" in doc["output"]
    assert "Late penalty" not in doc["output"]


@pytest.mark.slow
def test_a_broken_late_notebook_loses_points_with_located_feedback(bundle, tmp_path):
    notebook = broken_notebook(tmp_path / "pa2.ipynb")
    doc = autograde(bundle.path, tmp_path / "autograder", [notebook],
                    metadata=_metadata(created_at="2023-03-11T09:30:00.000000-05:00"))
    tests = {t["number"]: t for t in doc["tests"]}
    assert "Syntax error at cell 4, line 2" in doc["output"]
    assert "UNet is not defined" in doc["output"]
    assert tests["4.1.1"]["status"] == "failed" and "AvgPool2d" in tests["4.1.1"]["output"]
    assert tests["4.1.2"]["status"] == "passed"
    assert tests["5.1.1"]["score"] == 0 and tests["6.1.1"]["score"] == 0
    checks_score = doc["extra_data"]["checks_score"]
    assert 0 < checks_score < 1.5
    # 16.5 hours late: one day started, 10 % of the points earned.
    assert doc["score"] == pytest.approx(round(checks_score * 0.9, 6), abs=1e-6)
    assert "Late penalty" in doc["output"] and "**Final score:" in doc["output"]
    assert doc["extra_data"]["adjustments"][0]["kind"] == "late"


@pytest.mark.slow
def test_a_run_the_grader_cannot_complete_still_writes_results(bundle, tmp_path):
    empty = autograde(bundle.path, tmp_path / "empty", [], metadata=_metadata())
    assert empty["score"] == 0 and len(empty["tests"]) == 1
    assert empty["tests"][0]["max_score"] == pytest.approx(1.5)
    assert "could not be read" in empty["output"]

    failed = autograde(bundle.path, tmp_path / "fault", [reference_notebook(RUBRIC)],
                       metadata=_metadata(), faults="ingest=*")
    assert failed["score"] == 0 and failed["extra_data"]["status"] == "internal"
    assert "course staff will review it" in failed["output"]

    no_python = autograde(bundle.path, tmp_path / "nopython", [reference_notebook(RUBRIC)],
                          python="/bin/false")
    assert no_python["score"] == 0
    assert no_python["extra_data"]["grader_failure"] == "the grader exited with status 1"
    assert "Course staff will review it" in no_python["output"]


def test_a_broken_bundle_writes_the_failure_document(bundle, tmp_path):
    root = unpack(bundle.path, tmp_path / "autograder")
    (root / "source" / CONFIG_NAME).write_text("{not json")
    outcome = run(root)
    doc = json.loads((root / "results" / "results.json").read_text())
    assert doc == outcome.document and validate_gradescope(doc) == []
    assert doc["score"] == 0 and doc["extra_data"]["status"] == "internal"
    assert any("BundleError" in line for line in outcome.log)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("unshare") is None
                    or subprocess.run(["unshare", "--net", "true"],
                                      capture_output=True).returncode != 0,
                    reason="needs `unshare --net` (root) to take the network away")
def test_a_training_bundle_needs_no_network(tmp_path):
    """--checks all: setup.sh's prepare builds the data from the bundle, the shipped
    calibrations cover it, and a run with no network at all gives the reference full marks."""
    full = build_bundle(RUBRIC, tmp_path / "all.zip", checks="all")
    root = unpack(full.path, tmp_path / "autograder")
    offline = ["unshare", "--net"]
    prepared = subprocess.run([*offline, sys.executable, "-m", "grader.deploy.cli", "prepare",
                               "--root", str(root)], capture_output=True, text=True, timeout=600)
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    assert "(0 reference training run(s) needed" in prepared.stdout
    shutil.copy(reference_notebook(RUBRIC), root / "submission")
    env = dict(os.environ, GRADER_PYTHON=sys.executable, GRADER_AUTOGRADER_ROOT=str(root))
    env.pop("GRADER_FAULTS", None)
    done = subprocess.run([*offline, str(root / "source" / "run_autograder")], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads((root / "results" / "results.json").read_text())
    assert validate_gradescope(doc) == []
    assert doc["extra_data"]["status"] == "graded", done.stdout
    assert doc["score"] == pytest.approx(3.0)
    assert {t["tags"][0] for t in doc["tests"] if t.get("tags")} >= {"accuracy"}
