"""Benchmark `hoist serve` against distribution's registry (Debian docker-registry), one run.

Both servers run on loopback, started by the suite's helpers (tests/support), with fresh
storage each round and no auth, and are driven by the same clients with the same data:

  push   skopeo copy of a 4 x 64 MiB image (random gzip layers) from an OCI layout
  pull   skopeo copy of it back into a fresh OCI layout
  HEAD   2,000 manifest HEADs by tag from 8 concurrent keep-alive connections (a small asyncio
         client: wrk's HEAD support is broken)

and prints each figure and the ratio hoist/distribution (>= 1.0 means hoist is as fast or
faster). Run by hand, not in the suite:

    .venv/bin/python bench/serve_bench.py [--rounds 3] [--layers 4] [--layer-mib 64]

Rounds alternate which server goes first and `sync` before each, and the best figure of each
server is kept, to damp noise on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.hoist_server import hoist_server  # noqa: E402
from tests.support.peers import distribution_registry  # noqa: E402

ACCEPT = (
    "application/vnd.oci.image.manifest.v1+json,"
    "application/vnd.docker.distribution.manifest.v2+json"
)


def make_image(path: Path, layers: int, layer_mib: int) -> int:
    """An OCI layout with `layers` gzip layers of random bytes (stored deflate blocks, so each
    layer is its payload size); returns the total bytes of all blobs."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    descs, diff_ids, total = [], [], 0
    for i in range(layers):
        payload = os.urandom(layer_mib << 20)
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            info = tarfile.TarInfo(f"data-{i}.bin")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        tar_bytes = raw.getvalue()
        gz = gzip.compress(tar_bytes, compresslevel=0, mtime=0)  # stored: random data
        digest = hashlib.sha256(gz).hexdigest()
        (blobs / digest).write_bytes(gz)
        total += len(gz)
        descs.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": f"sha256:{digest}",
                "size": len(gz),
            }
        )
        diff_ids.append("sha256:" + hashlib.sha256(tar_bytes).hexdigest())
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    ).encode()
    config_digest = hashlib.sha256(config).hexdigest()
    (blobs / config_digest).write_bytes(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": f"sha256:{config_digest}",
                "size": len(config),
            },
            "layers": descs,
        }
    ).encode()
    manifest_digest = hashlib.sha256(manifest).hexdigest()
    (blobs / manifest_digest).write_bytes(manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": f"sha256:{manifest_digest}",
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": "v1"},
            }
        ],
    }
    (path / "index.json").write_text(json.dumps(index))
    return total + len(config) + len(manifest)


@contextlib.contextmanager
def serving(name: str, work: Path, hoist_args: list[str]) -> Iterator[str]:
    """Start `name` (hoist or distribution) with fresh storage in `work`; yields its host.

    The same helpers the suite uses: loopback, no auth, stopped by process id at the end.
    """
    if name == "hoist":
        with hoist_server(work, extra_args=hoist_args) as reg:
            yield reg.host
    else:
        if shutil.which("docker-registry") is None:
            raise SystemExit(
                "docker-registry is not installed (apt-get install -y docker-registry)"
            )
        with distribution_registry(work) as dist:
            yield dist.host


def skopeo(*args: str) -> float:
    start = time.perf_counter()
    subprocess.run(["skopeo", "--insecure-policy", *args], check=True, capture_output=True)
    return time.perf_counter() - start


async def _head_worker(host: str, path: str, count: int) -> int:
    hostname, port = host.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(hostname, int(port))
    request = (
        f"HEAD {path} HTTP/1.1\r\nHost: {host}\r\nAccept: {ACCEPT}\r\n"
        "User-Agent: hoist-bench\r\n\r\n"
    ).encode()
    ok = 0
    for _ in range(count):
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        ok += head[9:12] == b"200"
    writer.close()
    return ok


async def _heads(host: str, path: str, total: int, clients: int) -> tuple[float, int]:
    per = total // clients
    await asyncio.gather(*[_head_worker(host, path, 25) for _ in range(clients)])  # warm up
    start = time.perf_counter()
    oks = await asyncio.gather(*[_head_worker(host, path, per) for _ in range(clients)])
    return time.perf_counter() - start, sum(oks)


def run_round(
    name: str, host: str, image: Path, size: int, work: Path, heads: int, clients: int
) -> dict[str, float]:
    ref = f"docker://{host}/bench/app:v1"
    push = skopeo("copy", "--dest-tls-verify=false", f"oci:{image}:v1", ref)
    out = work / f"pull-{name}"
    shutil.rmtree(out, ignore_errors=True)
    pull = skopeo("copy", "--src-tls-verify=false", ref, f"oci:{out}:v1")
    shutil.rmtree(out, ignore_errors=True)
    elapsed, ok = asyncio.run(_heads(host, "/v2/bench/app/manifests/v1", heads, clients))
    if ok != heads:
        raise RuntimeError(f"{name}: only {ok}/{heads} HEADs answered 200")
    return {
        "push MB/s": size / push / 1e6,
        "pull MB/s": size / pull / 1e6,
        "HEAD req/s": heads / elapsed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--layer-mib", type=int, default=64)
    parser.add_argument("--heads", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--hoist-arg", action="append", default=[], help="extra hoist serve flag")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hoist-serve-bench-") as tmp:
        work = Path(tmp)
        image = work / "image"
        size = make_image(image, args.layers, args.layer_mib)
        print(f"image: {args.layers} x {args.layer_mib} MiB gzip layers, {size / 1e6:.0f} MB total")
        best: dict[str, dict[str, float]] = {"hoist": {}, "distribution": {}}
        for round_no in range(args.rounds):
            # Alternate who goes first, and start each from a clean page cache: otherwise the
            # second server pays for the first one's dirty pages being written back.
            order = ("distribution", "hoist") if round_no % 2 == 0 else ("hoist", "distribution")
            for name in order:
                os.sync()
                round_dir = work / f"{name}-{round_no}"
                round_dir.mkdir()
                with serving(name, round_dir, args.hoist_arg) as host:
                    figures = run_round(
                        name, host, image, size, round_dir, args.heads, args.clients
                    )
                shutil.rmtree(round_dir, ignore_errors=True)
                print(
                    f"round {round_no + 1} {name:>12}: "
                    + ", ".join(f"{k} {v:,.0f}" for k, v in figures.items())
                )
                for key, value in figures.items():
                    best[name][key] = max(best[name].get(key, 0.0), value)
        print()
        print(f"{'best of ' + str(args.rounds):<14}{'hoist':>12}{'distribution':>14}{'ratio':>8}")
        for key in best["hoist"]:
            h, d = best["hoist"][key], best["distribution"][key]
            print(f"{key:<14}{h:>12,.0f}{d:>14,.0f}{h / d:>8.2f}")
        if args.json:
            print(json.dumps(best))
    return 0


if __name__ == "__main__":
    sys.exit(main())
