"""Registry credentials (docker's config.json and credential helpers) and bearer-token handling.

Secrets live only in :class:`Credentials` and :class:`TokenCache`; both redact themselves in
``repr`` so they cannot leak into logs, errors or frames by accident.
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from requests.utils import parse_dict_header

from ..._files import read_file
from ...errors import AuthError
from ...oci.reference import DOCKER_HUB, DOCKER_HUB_API
from ...untrusted import load_json

#: The key docker uses for Docker Hub in config.json and with credential helpers.
DOCKER_HUB_KEY = "https://index.docker.io/v1/"


@dataclass(frozen=True)
class Credentials:
    """A user name and password, or an identity (refresh) token; never printed."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        kind = "identity token" if self.identity_token else "password"
        return f"Credentials(username={self.username!r}, {kind}=<redacted>)"

    __str__ = __repr__


def docker_config_path() -> Path:
    """``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``, as the docker CLI reads it."""
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def _host_of(key: str) -> str:
    key = key.split("://", 1)[-1]
    return key.split("/", 1)[0]


def _config_keys(host: str) -> set[str]:
    if host in (DOCKER_HUB, DOCKER_HUB_API, "index.docker.io"):
        return {DOCKER_HUB_KEY, "index.docker.io", DOCKER_HUB, DOCKER_HUB_API}
    return {host}


class DockerConfig:
    """Credentials from docker's config.json: ``auths``, ``credsStore`` and ``credHelpers``."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path else docker_config_path()
        try:
            self.data = load_json(read_file(self.path, AuthError, limit=16 << 20, expected="docker's config.json",
                                            hint="fix the file or point DOCKER_CONFIG elsewhere"))
        except FileNotFoundError:
            self.data = {}
        except AuthError:
            raise
        except (OSError, ValueError) as e:
            raise AuthError(f"cannot read docker config {self.path}: {e.__class__.__name__}; "
                            "fix the file or point DOCKER_CONFIG elsewhere", path=str(self.path)) from None
        # The shapes docker's own config loader accepts; anything else would end in a traceback.
        shapes = {"auths": dict, "credHelpers": dict, "credsStore": str}
        bad = [k for k, t in shapes.items() if isinstance(self.data, dict) and self.data.get(k) is not None
               and not isinstance(self.data[k], t)]
        if not isinstance(self.data, dict) or bad or not all(
                isinstance(e, dict) for e in (self.data.get("auths") or {}).values()) or not all(
                isinstance(h, str) for h in (self.data.get("credHelpers") or {}).values()):
            what = f"its {bad[0]} is not a {shapes[bad[0]].__name__}" if bad else "it is not of docker's shape"
            raise AuthError(f"docker config {self.path}: {what} (auths: {{host: {{auth: ...}}}}, credHelpers: "
                            "{host: name}, credsStore: name); fix the file or point DOCKER_CONFIG elsewhere",
                            path=str(self.path))

    def credentials(self, host: str) -> Credentials | None:
        """Credentials for registry ``host`` (an API host or a domain), or None for anonymous."""
        keys = _config_keys(host)
        helpers = self.data.get("credHelpers") or {}
        for key in keys:
            if key in helpers:
                return _from_helper(helpers[key], DOCKER_HUB_KEY if DOCKER_HUB_KEY in keys else host)
        if self.data.get("credsStore"):
            # As docker does: with a store configured its answer is final ("credentials not found" means
            # anonymous); `auths` then only lists the hosts logged in to, and stale entries there are ignored.
            return _from_helper(self.data["credsStore"], DOCKER_HUB_KEY if DOCKER_HUB_KEY in keys else host)
        for key, entry in (self.data.get("auths") or {}).items():
            if key in keys or _host_of(key) in keys:
                return _from_auth_entry(entry, host)
        return None


def _from_auth_entry(entry: dict, host: str) -> Credentials | None:
    if entry.get("identitytoken"):
        return Credentials(username=entry.get("username"), identity_token=entry["identitytoken"])
    if entry.get("auth"):
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError, TypeError):
            raise AuthError(f"the `auth` entry for {host} in docker's config.json is not base64 user:password; "
                            f"run `docker login {host}` again") from None
        return Credentials(user, password)
    if entry.get("username"):
        return Credentials(entry["username"], entry.get("password"))
    return None


def _from_helper(helper: str, server: str) -> Credentials | None:
    program = f"docker-credential-{helper}"
    try:
        proc = subprocess.run([program, "get"], input=server, capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise AuthError(f"docker's config.json names the credential helper {helper!r} but {program} is not on "
                        "PATH; install it or remove it from config.json") from None
    except subprocess.TimeoutExpired:
        raise AuthError(f"{program} did not answer within 30 s for {server}") from None
    if proc.returncode != 0:
        if "credentials not found" in (proc.stdout + proc.stderr).lower():
            return None
        # The helper's output may contain secrets: report only its exit status.
        raise AuthError(f"{program} failed (exit {proc.returncode}) for {server}; run `{program} list` to check it")
    try:
        data = load_json(proc.stdout)
    except ValueError:
        raise AuthError(f"{program} printed something that is not JSON for {server}") from None
    if not isinstance(data,
                      dict) or not all(isinstance(data.get(k), (str, type(None))) for k in ("Username", "Secret")):
        # Never quote it: a helper's answer holds the secret.
        raise AuthError(f"{program} printed JSON that is not an object of Username and Secret strings for {server}")
    if data.get("Username") == "<token>":
        return Credentials(identity_token=data.get("Secret"))
    return Credentials(data.get("Username"), data.get("Secret"))


@dataclass(frozen=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` header: ``scheme`` (basic/bearer) and its parameters."""

    scheme: str
    params: dict

    @classmethod
    def parse(cls, header: str) -> "Challenge | None":
        if not header:
            return None
        scheme, _, rest = header.strip().partition(" ")
        return cls(scheme.lower(), {k.lower(): v for k, v in parse_dict_header(rest).items()})

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scopes(self) -> list[str]:
        return (self.params.get("scope") or "").split()


class TokenCache:
    """Bearer tokens by (realm, service, scopes, user), reused until shortly before they expire."""

    SKEW = 5.0

    def __init__(self):
        self._tokens: dict[tuple, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple) -> str | None:
        with self._lock:
            hit = self._tokens.get(key)
            if hit and hit[1] - self.SKEW > time.monotonic():
                return hit[0]
            self._tokens.pop(key, None)
            return None

    def put(self, key: tuple, token: str, expires_in: float) -> None:
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + max(float(expires_in), 60.0))

    def __repr__(self) -> str:
        return f"TokenCache({len(self._tokens)} tokens)"
