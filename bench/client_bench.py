"""hoist push/pull vs skopeo against distribution's registry on loopback, in one run.

Run by hand:  .venv/bin/python bench/client_bench.py [--workdir DIR] [--big-mib 1024]
              [--python /tmp/rt/bin/python]   # hoist from a venv with only its runtime deps

Same image bytes for both tools (an OCI layout of gzip layers, loaded into hoist's store for
hoist and read directly by skopeo); each fresh push goes to a freshly started registry so
neither tool benefits from the other's blobs. Prints wall times, ratios hoist/skopeo (targets:
<= 0.8 fresh, <= 1.0 re-push; a re-push is the median of 3 runs, it is short enough for
noise to matter), hoist's peak RSS for the big push (< 150 MiB), `hoist --version` cold start
(< 250 ms) and the import time of `hoist push` (most of a re-push).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.peers import distribution_registry  # noqa: E402

HOIST = [sys.executable, "-m", "hoist.cli.main"]  # --python replaces the interpreter
SKOPEO = ["skopeo", "--insecure-policy"]


def _gzip_random(path: Path, size: int) -> tuple[str, int, str]:
    """A gzip layer of `size` random bytes, streamed (level 1: random data does not shrink)."""
    try:
        from isal import igzip as gz  # ISA-L: fast

        opener = lambda f: gz.IGzipFile(fileobj=f, mode="wb", compresslevel=0)  # noqa: E731
    except ImportError:  # pragma: no cover
        import gzip

        opener = lambda f: gzip.GzipFile(fileobj=f, mode="wb", compresslevel=1, mtime=0)  # noqa: E731
    with path.open("wb") as raw, opener(raw) as out:
        left = size
        diff = hashlib.sha256()
        while left:
            n = min(left, 8 << 20)
            data = os.urandom(n)
            diff.update(data)
            out.write(data)
            left -= n
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(8 << 20), b""):
            h.update(chunk)
    return f"sha256:{h.hexdigest()}", path.stat().st_size, f"sha256:{diff.hexdigest()}"


def make_layout(root: Path, tag: str, layer_sizes: list[int]) -> Path:
    """An OCI layout with one image of random gzip layers."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    layers = []
    diff_ids = []
    for i, size in enumerate(layer_sizes):
        tmp = root / f"layer{i}.tmp"
        digest, length, diff_id = _gzip_random(tmp, size)
        diff_ids.append(diff_id)
        tmp.rename(blobs / digest.split(":")[1])
        layers.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": digest,
                "size": length,
            }
        )
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "created": "1970-01-01T00:00:00Z",
            "config": {},
        }
    ).encode()
    cdigest = hashlib.sha256(config).hexdigest()
    (blobs / cdigest).write_bytes(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{cdigest}",
                "size": len(config),
            },
            "layers": layers,
        }
    ).encode()
    mdigest = hashlib.sha256(manifest).hexdigest()
    (blobs / mdigest).write_bytes(manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": f"sha256:{mdigest}",
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    return root


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{' '.join(cmd)} failed: {err}")
    return elapsed, usage.ru_maxrss


@contextlib.contextmanager
def registry(work: Path, name: str) -> Iterator[str]:
    with distribution_registry(work / name) as reg:
        yield reg.host
    shutil.rmtree(work / name, ignore_errors=True)


def scenario(work: Path, label: str, sizes: list[int], env: dict[str, str]) -> dict[str, float]:
    layout = make_layout(work / f"layout-{label}", "v1", sizes)
    home = work / f"home-{label}"
    e = {**env, "HOIST_HOME": str(home)}
    out: dict[str, float] = {}
    with registry(work, f"reg-h-{label}") as host:
        name = f"{host}/bench/{label}:v1"
        subprocess.run([*HOIST, "load", str(layout)], env=e, check=True, capture_output=True)
        subprocess.run([*HOIST, "tag", _loaded_id(e), name], env=e, check=True, capture_output=True)
        out["hoist_fresh"], rss = timed([*HOIST, "push", name], e)
        out["hoist_rss_mib"] = rss / 1024
        out["hoist_repush"] = _median_of(3, [*HOIST, "push", name], e)
        pull_home = {**e, "HOIST_HOME": str(work / f"pull-{label}")}
        out["hoist_pull"], _ = timed([*HOIST, "pull", name], pull_home)
        # skopeo re-push and pull against the same registry (its layers exist there too)
        out["skopeo_repush"] = _median_of(
            3,
            [*SKOPEO, "copy", "--dest-tls-verify=false", f"oci:{layout}:v1", f"docker://{name}"],
            e,
        )
        out["skopeo_pull"], _ = timed(
            [
                *SKOPEO,
                "copy",
                "--src-tls-verify=false",
                f"docker://{name}",
                f"oci:{work / f'skopeo-pull-{label}'}:v1",
            ],
            e,
        )
    with registry(work, f"reg-s-{label}") as host:
        name = f"{host}/bench/{label}:v1"
        out["skopeo_fresh"], _ = timed(
            [*SKOPEO, "copy", "--dest-tls-verify=false", f"oci:{layout}:v1", f"docker://{name}"], e
        )
    shutil.rmtree(layout, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
    return out


def _median_of(n: int, cmd: list[str], env: dict[str, str]) -> float:
    return statistics.median(timed(cmd, env)[0] for _ in range(n))


def _loaded_id(env: dict[str, str]) -> str:
    """The image ID of the one image `hoist load` put in this store."""
    out = subprocess.run(
        [*HOIST, "images", "--json"], env=env, check=True, capture_output=True, text=True
    ).stdout
    return str(json.loads(out.splitlines()[0])["id"])


def cold_start(env: dict[str, str], cmd: list[str]) -> float:
    runs = []
    for _ in range(7):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--python", help="run hoist with this interpreter (default: this one)")
    args = ap.parse_args()
    if args.python:
        HOIST[0] = args.python
    work = args.workdir or Path(tempfile.mkdtemp(prefix="hoist-bench-"))
    env = {
        **os.environ,
        "DOCKER_CONFIG": str(work / "docker"),
        "HOIST_CONFIG_DIR": str(work / "cfg"),
        "HOIST_PROGRESS": "plain",
    }
    mib = 1 << 20
    results = {
        "4x64MiB": scenario(work, "four", [64 * mib] * 4, env),
        f"1x{args.big_mib}MiB": scenario(work, "big", [args.big_mib * mib], env),
    }
    print(f"{'image':<12}{'step':<10}{'hoist s':>10}{'skopeo s':>10}{'ratio':>8}")
    for label, r in results.items():
        for step in ("fresh", "repush", "pull"):
            h, s = r[f"hoist_{step}"], r[f"skopeo_{step}"]
            print(f"{label:<12}{step:<10}{h:>10.2f}{s:>10.2f}{h / s:>8.2f}")
    print(
        f"hoist peak RSS, {args.big_mib} MiB push: "
        f"{results[f'1x{args.big_mib}MiB']['hoist_rss_mib']:.0f} MiB"
    )
    version = cold_start(env, [*HOIST, "--version"])
    print(f"hoist --version cold start (median of 7): {version:.0f} ms")
    imports = cold_start(env, [HOIST[0], "-c", "import hoist.cli.push"])
    print(f"python -c 'import hoist.cli.push' (median of 7): {imports:.0f} ms")
    print(f"hoist run by {HOIST[0]}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
