"""Several hoist processes on one store at once: loads, tags and rmi racing each other must
leave a store where every name reaches complete content and nothing half-written is visible."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.store.builders import layer_tar, legacy_archive
from tests.store.conftest import check_consistent

WORKER = """
import sys
from hoist.cli.main import main
for argv in [line.split() for line in sys.argv[1].split(";")]:
    code = main(argv)
    if code not in (0, 4):  # 4: rmi/tag of a name another process removed first
        sys.exit(code)
"""


def _spawn(home: Path, script: list[str]) -> subprocess.Popen[str]:
    env = {**os.environ, "HOIST_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, ";".join(script)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_loading_and_tagging(tmp_path: Path) -> None:
    home = tmp_path / "home"
    shared = layer_tar({"shared": os.urandom(200_000)})
    a = legacy_archive(
        tmp_path / "a.tar", [(["example.com/a:1"], [shared, layer_tar({"a": b"a"})])]
    )
    b = legacy_archive(
        tmp_path / "b.tar", [(["example.com/b:1"], [shared, layer_tar({"b": b"b"})])]
    )
    rounds = 6
    one = [f"load {a}"] + [f"tag example.com/a:1 example.com/a:t{i}" for i in range(rounds)]
    two = [f"load {b}"] + [f"tag example.com/b:1 example.com/b:t{i}" for i in range(rounds)]
    procs = [_spawn(home, one), _spawn(home, two)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    names = sorted(check_consistent(home))
    expected = sorted(
        [f"example.com/{x}:1" for x in "ab"]
        + [f"example.com/{x}:t{i}" for x in "ab" for i in range(rounds)]
    )
    assert names == expected  # no tag lost to a concurrent index update
    assert not list((home / "store-meta" / "tmp").glob("*")), "staging left behind"


def test_rmi_racing_loads_never_breaks_a_name(tmp_path: Path) -> None:
    """GC (in rmi) runs while another process stages the same layers: no name may end up
    pointing at a blob that GC removed."""
    home = tmp_path / "home"
    shared = layer_tar({"shared": os.urandom(300_000)})
    a = legacy_archive(tmp_path / "a.tar", [(["example.com/a:1"], [shared])])
    b = legacy_archive(
        tmp_path / "b.tar", [(["example.com/b:1"], [shared, layer_tar({"b": b"b"})])]
    )
    loader = [f"load {a}", f"load {b}"] * 4
    remover = ["rmi example.com/a:1", "rmi example.com/b:1"] * 6
    procs = [_spawn(home, loader), _spawn(home, remover)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    check_consistent(home)  # every remaining name is complete
    index = json.loads((home / "index.json").read_text())
    assert all("annotations" in e for e in index["manifests"])
