"""`make demo` tells the article's story end to end; this keeps it true after every change."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_replays_the_article(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["TMPDIR"] = str(tmp_path)
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 0, text
    # the prefix mistake is caught before any network traffic, with the fix
    assert "error: not pushing myapp:1.4.0: it routes to Docker Hub's official images" in text
    assert "Login Succeeded" in text
    assert "The push refers to repository [127.0.0.1:" in text
    assert ": Pushed" in text
    assert ": Layer already exists" in text
    digests = [
        line.split()[-1]
        for line in text.splitlines()
        if line.startswith(("local:", "registry:", "pulled:"))
    ]
    assert len(digests) == 3 and len(set(digests)) == 1
    # the demo cleans up after itself
    assert not any(p.name.startswith("hoist-demo.") for p in tmp_path.iterdir())
