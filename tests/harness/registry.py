"""A real registry (Debian's ``docker-registry``, distribution 2.8) on 127.0.0.1 for tests and benchmarks.

    with Registry(tmp_path) as reg:
        subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", src, f"docker://{reg.host}/app:1"])
        reg.storage  # the filesystem storage root, distribution's layout (docs/formats.md, "Registry storage")

Auth is optional: ``htpasswd={"user": "password"}`` (basic auth, which distribution only serves over
TLS, so it turns on ``tls=True``), ``tls=True`` (a test CA and a server certificate for 127.0.0.1 made
with the ``cryptography`` package; ``reg.ca_file`` is the CA to trust), and ``token=`` a
:class:`harness.token_server.TokenServer` whose JWTs the registry verifies.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import json
import os
import secrets
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

from .daemon import stop_group

PROGRAM = "docker-registry"


def registry_missing() -> str | None:
    """Why a real registry cannot be started here, or None."""
    if shutil.which(PROGRAM) is None:
        return f"needs {PROGRAM} (Debian package docker-registry) installed"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TestCA:
    """A throw-away certificate authority and one server certificate for 127.0.0.1/localhost."""

    __test__ = False  # not a pytest class

    def __init__(self, directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        directory.mkdir(parents=True, exist_ok=True)
        now = _dt.datetime.now(_dt.timezone.utc)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "layerlab test CA")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name).issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(minutes=5))
            .not_valid_after(now + _dt.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        names = []
        for h in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(h)))
            except ValueError:
                names.append(x509.DNSName(h))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _dt.timedelta(minutes=5))
            .not_valid_after(now + _dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        self.ca_file = directory / "ca.crt"
        self.cert_file = directory / "server.crt"
        self.key_file = directory / "server.key"
        self.ca_file.write_bytes(ca_cert.public_bytes(pem))
        self.cert_file.write_bytes(cert.public_bytes(pem))
        self.key_file.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL,
                                                    serialization.NoEncryption()))


def write_htpasswd(path: Path, users: dict[str, str]) -> Path:
    """An htpasswd file with bcrypt entries (the only kind distribution accepts), via apache2-utils."""
    lines = []
    for user, password in users.items():
        out = subprocess.run(["htpasswd", "-Bbn", user, password], check=True,
                             capture_output=True, text=True).stdout.strip()
        lines.append(out)
    path.write_text("\n".join(lines) + "\n")
    return path


class Registry:
    """``docker-registry serve`` on 127.0.0.1 with filesystem storage under ``workdir``.

    Parameters
    ----------
    workdir : directory for config.yml, the log and (unless ``storage`` is given) the storage.
    port : TCP port; a free one when None.
    htpasswd : ``{user: password}`` or the path of an existing htpasswd file; turns TLS on.
    tls : True for a fresh test CA (``.ca_file``), or a :class:`TestCA`.
    token : a token server (``.realm``, ``.service``, ``.issuer``, ``.cert_file``) for bearer auth.
    storage : an existing storage root to serve instead of ``workdir/storage``.
    config : extra top-level config entries, merged one level deep (e.g. ``{"catalog": {...}}``).
    s3 : distribution's ``storage.s3`` section: serve from an S3 bucket instead of ``storage``
        (see :meth:`harness.objectstore.MotoServer.registry_storage`).
    """

    def __init__(self, workdir: str | os.PathLike, port: int | None = None, htpasswd: Any = None,
                 tls: Any = None, token: Any = None, *, storage: str | os.PathLike | None = None,
                 config: dict | None = None, read_only: bool = False, s3: dict | None = None):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.storage = Path(storage) if storage else self.workdir / "storage"
        self.storage.mkdir(parents=True, exist_ok=True)
        if htpasswd is not None and tls is None:
            tls = True  # distribution refuses basic auth over plain HTTP
        self.ca: TestCA | None = None
        if tls is True:
            self.ca = TestCA(self.workdir / "tls")
        elif tls is not None:
            self.ca = tls
        self.ca_file = self.ca.ca_file if self.ca else None
        self.scheme = "https" if self.ca else "http"
        self.url = f"{self.scheme}://{self.host}"
        self.users: dict[str, str] = {}
        self.htpasswd_file: Path | None = None
        if isinstance(htpasswd, dict):
            self.users = dict(htpasswd)
            self.htpasswd_file = write_htpasswd(self.workdir / "htpasswd", htpasswd)
        elif htpasswd is not None:
            self.htpasswd_file = Path(htpasswd)
        self.token = token
        self.read_only = read_only
        self.s3 = s3
        self.extra_config = config or {}
        self.config_file = self.workdir / "config.yml"
        self.log_file = self.workdir / "registry.log"
        self.proc: subprocess.Popen | None = None

    # -- config ---------------------------------------------------------------------------------
    def config(self) -> dict:
        """The registry configuration as a dict (written as JSON, which YAML accepts)."""
        storage: dict[str, Any] = {
            "filesystem": {"rootdirectory": str(self.storage)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False},
                            "readonly": {"enabled": self.read_only}},
        }
        if self.s3 is not None:
            del storage["filesystem"]
            storage["s3"] = dict(self.s3)
            storage["redirect"] = {"disable": True}  # serve blobs itself, not via presigned S3 URLs
        http: dict[str, Any] = {"addr": self.host, "secret": secrets.token_hex(16)}
        if self.ca:
            http["tls"] = {"certificate": str(self.ca.cert_file), "key": str(self.ca.key_file)}
        cfg: dict[str, Any] = {
            "version": "0.1",
            "log": {"level": "info", "accesslog": {"disabled": True}},
            "storage": storage,
            "http": http,
        }
        if self.htpasswd_file:
            cfg["auth"] = {"htpasswd": {"realm": "layerlab-test", "path": str(self.htpasswd_file)}}
        elif self.token is not None:
            cfg["auth"] = {"token": {"realm": self.token.realm, "service": self.token.service,
                                     "issuer": self.token.issuer,
                                     "rootcertbundle": str(self.token.cert_file)}}
        for key, value in self.extra_config.items():
            if isinstance(value, dict) and isinstance(cfg.get(key), dict):
                cfg[key] = {**cfg[key], **value}
            else:
                cfg[key] = value
        return cfg

    def write_config(self, path: Path | None = None, **overrides: Any) -> Path:
        """Write the config (e.g. for ``docker-registry garbage-collect``) and return its path."""
        cfg = self.config()
        cfg.update(overrides)
        path = path or self.config_file
        path.write_text(json.dumps(cfg, indent=2))
        return path

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, timeout: float = 20.0) -> "Registry":
        reason = registry_missing()
        if reason:
            raise RuntimeError(reason)
        self.write_config()
        log = open(self.log_file, "ab")
        self.proc = subprocess.Popen([PROGRAM, "serve", str(self.config_file)], stdout=log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, cwd=self.workdir, env=self.env())
        log.close()
        deadline = time.monotonic() + timeout
        verify = str(self.ca_file) if self.ca_file else True
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited with {self.proc.returncode}; "
                                   f"see {self.log_file}:\n{self.log_tail()}")
            try:
                r = requests.get(f"{self.url}/v2/", timeout=1, verify=verify)
                if r.status_code in (200, 401):
                    return self
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"docker-registry did not answer on {self.url} within {timeout}s; "
                                   f"see {self.log_file}:\n{self.log_tail()}")
            time.sleep(0.05)

    def env(self) -> dict[str, str]:
        """The registry's environment: distribution's AWS SDK cannot load a custom CA bundle from
        ``AWS_CA_BUNDLE``, and fails to start with it set, so it is left out."""
        return {k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"}

    def stop(self) -> None:
        """Stop the registry and its whole process group."""
        if self.proc is None:
            return
        stop_group(self.proc, timeout=10)
        self.proc = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> "Registry":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for tests ----------------------------------------------------------------------
    def skopeo_args(self, *, user: str | None = None, side: str | None = None) -> list[str]:
        """skopeo flags to reach this registry (TLS trust, credentials).

        ``side`` is None for ``skopeo inspect``/``list-tags``, "src" or "dest" for ``skopeo copy``.
        """
        prefix = f"--{side}-" if side else "--"
        args = []
        if self.ca_file:
            certs = self.workdir / "skopeo-certs"
            certs.mkdir(exist_ok=True)
            shutil.copy(self.ca_file, certs / "ca.crt")
            args.append(f"{prefix}cert-dir={certs}")
        else:
            args.append(f"{prefix}tls-verify=false")
        if user is not None:
            args.append(f"{prefix}creds={user}:{self.users[user]}")
        return args

    def garbage_collect(self, *, dry_run: bool = True, delete_untagged: bool = False,
                        storage: str | os.PathLike | None = None) -> str:
        """Run ``docker-registry garbage-collect`` on ``storage`` (default: this one) and return stdout."""
        cfg = self.config()
        if self.s3 is None:
            cfg["storage"]["filesystem"]["rootdirectory"] = str(storage or self.storage)
        path = self.workdir / f"gc-{secrets.token_hex(4)}.yml"
        path.write_text(json.dumps(cfg))
        cmd = [PROGRAM, "garbage-collect"]
        if dry_run:
            cmd.append("--dry-run")
        if delete_untagged:
            cmd.append("--delete-untagged")
        cmd.append(str(path))
        out = subprocess.run(cmd, capture_output=True, text=True, env=self.env())
        if out.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
        return out.stdout


# -- images for tests and benchmarks: built by a real daemon, pushed to a real registry ------------

def _context(directory: Path, dockerfile: str, files: dict[str, bytes] | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Dockerfile").write_text(dockerfile)
    for name, data in (files or {}).items():
        (directory / name).write_bytes(data)
    return directory


def _skopeo(*args: str) -> None:
    proc = subprocess.run(["skopeo", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"skopeo {' '.join(args)} failed: {proc.stderr.strip()}")


def retag(registry: Registry, repository: str, source_tag: str, tags: list[str]) -> None:
    """Point more tags at an existing manifest with the registry API (what `crane tag` does)."""
    verify = str(registry.ca_file) if registry.ca_file else True
    auth = next(iter(registry.users.items()), None)
    accept = ", ".join(["application/vnd.oci.image.index.v1+json",
                        "application/vnd.docker.distribution.manifest.list.v2+json",
                        "application/vnd.oci.image.manifest.v1+json",
                        "application/vnd.docker.distribution.manifest.v2+json"])
    with requests.Session() as s:
        s.verify, s.auth = verify, auth
        r = s.get(f"{registry.url}/v2/{repository}/manifests/{source_tag}", headers={"Accept": accept})
        r.raise_for_status()
        for tag in tags:
            put = s.put(f"{registry.url}/v2/{repository}/manifests/{tag}", data=r.content,
                        headers={"Content-Type": r.headers["Content-Type"]})
            put.raise_for_status()


def push_sample(daemon, registry: Registry, workdir: str | os.PathLike, *, many_tags: int = 12,
                distinct: int = 0, tags_per_distinct: int = 1) -> dict[str, str]:
    """Build a small set of images on ``daemon`` and push them to ``registry``; return their references.

    Keys: base, app, app2, team_app (same base in another repository), multi (a manifest list made by
    ``docker manifest``), multi_oci (OCI index, converted by skopeo), app_oci (OCI manifest),
    many (repository with ``many_tags`` tags on app's manifest), and for benchmarks ``bench``
    (repository with ``distinct`` images, each under ``tags_per_distinct`` tags).
    """
    from .images import busybox_rootfs

    work = Path(workdir)
    h = registry.host
    refs = {
        "base": f"{h}/layerlab/base:1", "app": f"{h}/layerlab/app:1", "app2": f"{h}/layerlab/app:2",
        "team_app": f"{h}/team/app:1", "multi": f"{h}/layerlab/multi:1", "multi_oci": f"{h}/layerlab/multi-oci:1",
        "app_oci": f"{h}/layerlab/app-oci:1", "many": f"{h}/layerlab/many",
    }
    daemon.docker("import", busybox_rootfs(work / "rootfs"), refs["base"])
    _context(work / "app", f"FROM {refs['base']}\nRUN echo app > /app.txt && mkdir -p /srv/data\n"
                            "ENV MODE=test\nRUN dd if=/dev/urandom of=/srv/data/blob bs=1k count=64\n")
    daemon.docker("build", "-t", refs["app"], work / "app")
    _context(work / "app2", f"FROM {refs['app']}\nRUN echo two > /two.txt\n")
    daemon.docker("build", "-t", refs["app2"], work / "app2")
    daemon.docker("tag", refs["app"], refs["team_app"])
    for key in ("base", "app", "app2", "team_app"):
        daemon.docker("push", refs[key])
    arch_tags = []
    for arch in ("amd64", "arm64"):
        tag = f"{h}/layerlab/multi:{arch}"
        _context(work / f"multi-{arch}", "FROM scratch\nCOPY hello.txt /\nLABEL arch=" + arch + "\n",
                 {"hello.txt": f"hello from {arch}\n".encode()})
        daemon.docker("build", "--no-cache", "--platform", f"linux/{arch}", "-t", tag, work / f"multi-{arch}")
        daemon.docker("push", tag)
        arch_tags.append(tag)
    insecure = [] if registry.ca_file else ["--insecure"]
    daemon.docker("manifest", "create", *insecure, refs["multi"], *arch_tags)
    daemon.docker("manifest", "push", *insecure, refs["multi"])
    _skopeo("copy", "--all", "--format", "oci", *registry.skopeo_args(side="src"),
            *registry.skopeo_args(side="dest"), f"docker://{refs['multi']}", f"docker://{refs['multi_oci']}")
    _skopeo("copy", "--format", "oci", *registry.skopeo_args(side="src"), *registry.skopeo_args(side="dest"),
            f"docker://{refs['app']}", f"docker://{refs['app_oci']}")
    if many_tags:
        daemon.docker("tag", refs["app"], f"{refs['many']}:t000")
        daemon.docker("push", f"{refs['many']}:t000")
        retag(registry, "layerlab/many", "t000", [f"t{i:03d}" for i in range(1, many_tags)])
    if distinct:
        refs["bench"] = f"{h}/layerlab/bench"
        for i in range(distinct):
            _context(work / f"bench-{i}", f"FROM {refs['base']}\nRUN echo {i} > /n.txt\nLABEL n={i}\n")
            daemon.docker("build", "-t", f"{refs['bench']}:i{i:03d}-0", work / f"bench-{i}")
            daemon.docker("push", f"{refs['bench']}:i{i:03d}-0")
            retag(registry, "layerlab/bench", f"i{i:03d}-0", [f"i{i:03d}-{k}" for k in range(1, tags_per_distinct)])
    return refs
