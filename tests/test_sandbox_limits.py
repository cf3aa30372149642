"""Limits: the size syntax shared with rubrics and the CLI, and how overrides combine."""

from __future__ import annotations

import pytest

from grader.sandbox import Limits, format_size, parse_size
from grader.sandbox.limits import GiB, MiB


@pytest.mark.parametrize("text, expected", [
    ("6G", 6 * GiB), ("6g", 6 * GiB), ("512M", 512 * MiB), ("1.5GiB", 3 * GiB // 2),
    (" 2 GB ", 2 * GiB), ("4096", 4096), ("10K", 10240), (123, 123), (2.0e9, 2_000_000_000),
])
def test_parse_size_accepts_rubric_and_cli_spellings(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["", "six gigs", "6X", "-1G", -5, True, float("inf"), "1.2.3G"])
def test_parse_size_rejects_nonsense(bad):
    with pytest.raises(ValueError):
        parse_size(bad)


def test_format_size_round_trips():
    for n in (6 * GiB, 512 * MiB, 3 * GiB // 2, 1000):
        assert abs(parse_size(format_size(n)) - n) <= n * 0.05


def test_cli_overrides_change_only_what_is_given():
    base = Limits()
    new = base.with_overrides(timeout="300", memory="6G")
    assert new.timeout == 300.0 and new.memory == 6 * GiB
    assert new.cpu >= 600.0, "a longer timeout must bring enough CPU time with it"
    assert new.output == base.output and new.max_procs == base.max_procs
    assert base.with_overrides(timeout=10, cpu=3).cpu == 3.0
    assert base.with_overrides() == base


def test_from_mapping_takes_a_rubric_limits_block():
    limits = Limits.from_mapping({"timeout": 60, "memory": "2G", "cpu": 30})
    assert (limits.timeout, limits.memory, limits.cpu) == (60.0, 2 * GiB, 30.0)
    assert Limits.from_mapping({"output": "1M"}).output == MiB
    with pytest.raises(ValueError, match="unknown limits"):
        Limits.from_mapping({"timeoutt": 5})


@pytest.mark.parametrize("field", ["timeout", "memory", "max_procs", "output"])
def test_limits_must_be_positive(field):
    with pytest.raises(ValueError, match=field):
        Limits(**{field: 0})
