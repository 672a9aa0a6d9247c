"""Start and stop the real emulators the tests talk to over HTTP: moto server (S3) and Azurite (Azure Blob)."""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
AZURITE_ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented by Microsoft).
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class EmulatorError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, process: subprocess.Popen, name: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmulatorError(f"{name} exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise EmulatorError(f"{name} did not listen on port {port} within {timeout}s:\n{log.read_text()[-2000:]}")


def _die_with_parent() -> None:
    """Linux: the emulator gets SIGTERM when the process that started it dies (a killed test run or demo leaves
    no emulator behind)."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the fixtures' teardown stops them
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Emulator:
    def __init__(self, name: str, argv: list[str], port: int, workdir: Path, env: dict[str, str] | None = None):
        self.name, self.port = name, port
        self.log = workdir / f"{name}.log"
        self._log_file = open(self.log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            argv,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env={**os.environ, **(env or {})},
            preexec_fn=_die_with_parent,
        )
        _wait_for_port(port, self.process, name, self.log)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log_file.close()


def start_moto(workdir: Path) -> Emulator:
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    return Emulator("moto", argv, port, workdir)


def azurite_binary() -> str:
    path = ROOT / "node_modules" / ".bin" / "azurite-blob"
    if path.exists():
        return str(path)
    found = shutil.which("azurite-blob")
    if found:
        return found
    raise EmulatorError("azurite-blob not found: run `npm ci` in the repository (see README).")


def start_azurite(workdir: Path, *, oauth_cert: tuple[Path, Path] | None = None) -> Emulator:
    port = free_port()
    name = "azurite-oauth" if oauth_cert else "azurite"
    location = workdir / f"{name}-data"
    location.mkdir(exist_ok=True)
    argv = [
        azurite_binary(),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--location",
        str(location),
        "--silent",
        "--skipApiVersionCheck",
        "--loose",
        "--disableTelemetry",
    ]
    if oauth_cert:
        argv += ["--oauth", "basic", "--cert", str(oauth_cert[0]), "--key", str(oauth_cert[1])]
    return Emulator(name, argv, port, workdir)


def start_redis(workdir: Path) -> Emulator:
    """Debian's redis-server on a loopback port, nothing persisted (the shared cache and RQ's queue)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise EmulatorError("redis-server not found: install Debian's redis-server package (make system-deps).")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    return Emulator("redis", argv, port, workdir)


def make_certificate(workdir: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (Azurite's OAuth mode needs HTTPS)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = workdir / "azurite-cert.pem", workdir / "azurite-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def s3_client(port: int, key: str, **config: Any) -> Any:
    """A boto3 client of moto server on this port, signing SigV4 with ``key`` (moto accepts any); ``config``:
    more botocore Config options."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=key,
        aws_secret_access_key=key,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", **config),
    )


def azure_connection_string(port: int, scheme: str = "http") -> str:
    return (
        f"DefaultEndpointsProtocol={scheme};AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={scheme}://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
    )
