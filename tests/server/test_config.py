"""Configuration: the committed example loads, mistakes are refused with the key at fault."""

from __future__ import annotations

import argparse
import socket
from pathlib import Path

import pytest

from hoist.cli.serve import build_config, configure
from hoist.errors import UsageError
from hoist.server.config import ServerConfig, load_config, parse_duration
from hoist.server.runner import banner

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "serve.yml"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure(parser)
    return parser.parse_args(list(argv))


def test_example_config_loads() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.addr == "127.0.0.1:5000"
    assert cfg.auth == "token"
    assert cfg.root == EXAMPLE.parent / "registry-data"
    assert cfg.htpasswd == EXAMPLE.parent / "htpasswd"
    assert cfg.token_expiration == 300
    assert cfg.upload_ttl == 24 * 3600
    assert cfg.access is not None and len(cfg.access) == 3


def test_flags_override_the_file(tmp_path: Path) -> None:
    cfg_file = tmp_path / "c.yml"
    cfg_file.write_text("addr: 127.0.0.1:6000\nstorage: {root: data}\n")
    cfg = build_config(_args("--config", str(cfg_file), "--addr", "127.0.0.1:7000"))
    assert cfg.addr == "127.0.0.1:7000"
    assert cfg.root == tmp_path / "data"
    assert cfg.auth == "none"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("addr: [1, 2\n", "not valid YAML"),
        ("- a\n", "must be a YAML mapping"),
        ("stroage: {}\n", "unknown config key stroage"),
        ("storage: {rot: x}\n", "unknown config key storage.rot"),
        ("auth: {access: [{users: [a], repositories: [x], actions: [fly]}]}\n", "unknown actions"),
        ("auth: {access: {users: a}}\n", "must be a list"),
        ("storage: {upload_ttl: soon}\n", "invalid duration"),
    ],
)
def test_bad_config_is_refused(tmp_path: Path, text: str, message: str) -> None:
    cfg_file = tmp_path / "c.yml"
    cfg_file.write_text(text)
    with pytest.raises(UsageError, match=message):
        load_config(cfg_file)


def test_no_auth_only_on_loopback() -> None:
    with pytest.raises(UsageError, match="without authentication"):
        ServerConfig(addr="0.0.0.0:5000").validate()
    ServerConfig(addr="0.0.0.0:5000", insecure_no_auth=True).validate()
    ServerConfig(addr="[::1]:5000").validate()
    ServerConfig(addr="localhost:5000").validate()
    with pytest.raises(UsageError, match="needs a password file"):
        ServerConfig(auth="htpasswd").validate()
    with pytest.raises(UsageError, match="invalid listen address"):
        ServerConfig(addr="nowhere").validate()
    with pytest.raises(UsageError, match="both"):
        ServerConfig(tls_cert=Path("c.pem")).validate()


def test_durations() -> None:
    assert parse_duration(90, "k") == 90
    assert parse_duration("30m", "k") == 1800
    assert parse_duration("7d", "k") == 7 * 86400


def test_banner_says_where_and_how_to_log_in() -> None:
    text = "\n".join(
        banner(
            ServerConfig(auth="htpasswd", htpasswd=Path("/x/htpasswd")), "127.0.0.1", 5000, False
        )
    )
    assert "listening on http://127.0.0.1:5000" in text
    assert "hoist login 127.0.0.1:5000 -u USER" in text


def test_startup_errors_are_explained_not_tracebacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hoist.cli.main import main

    root = ["--root", str(tmp_path / "r")]
    assert main(["serve", *root, "--htpasswd", str(tmp_path / "missing")]) == 2
    assert "htpasswd -Bbn" in capsys.readouterr().err
    assert main(["serve", *root, "--tls-cert", "/nope.pem", "--tls-key", "/nope.key"]) == 2
    assert "cannot load TLS certificate" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve", *root, "--addr", f"127.0.0.1:{port}"]) == 5
    assert "cannot listen on" in capsys.readouterr().err
