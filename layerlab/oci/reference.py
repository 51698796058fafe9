"""Image references, normalised as docker does (distribution/reference's ParseNormalizedNamed)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace

from ..errors import LayerlabError

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
_DIGEST_RE = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
_DOMAIN_RE = re.compile(r"^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
                        r"|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$")


class InvalidReference(LayerlabError, ValueError):
    """A string that is not an image reference docker would accept."""


@dataclass(frozen=True)
class Reference:
    """``domain/path[:tag][@digest]``; ``str()`` gives the fully qualified form."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str, *, default_tag: str | None = "latest") -> "Reference":
        """Parse ``text`` as docker does: ``python`` -> ``docker.io/library/python:latest``."""
        if isinstance(text, Reference):
            return text
        s = text.strip()
        if not s:
            raise InvalidReference("empty image reference; give e.g. 'python:3.12' or 'host:5000/team/app'")
        if "://" in s:  # a URL pasted from a browser or a registry's UI
            raise InvalidReference(f"{text!r}: an image reference has no scheme; drop {s.split('://')[0]}:// "
                                   "(e.g. 'ghcr.io/team/app:1')", ref=text)
        digest = None
        if "@" in s:
            s, digest = s.split("@", 1)
            if not _DIGEST_RE.match(digest):
                raise InvalidReference(f"{text!r}: invalid digest {digest!r}; expected sha256:<64 hex>", ref=text)
        tag = None
        last = s.rsplit("/", 1)[-1]
        if ":" in last:
            s, tag = s.rsplit(":", 1)
            if not _TAG_RE.match(tag):
                raise InvalidReference(f"{text!r}: invalid tag {tag!r}", ref=text)
        first, sep, rest = s.partition("/")
        if sep and (("." in first or ":" in first) or first == "localhost" or first.lower() != first):
            domain, path = first, rest
        else:
            domain, path = DOCKER_HUB, s
        if domain == "index.docker.io":
            domain = DOCKER_HUB
        if domain == DOCKER_HUB and "/" not in path:
            path = "library/" + path
        if not _DOMAIN_RE.match(domain):
            raise InvalidReference(f"{text!r}: invalid registry host {domain!r}", ref=text)
        check_port(domain, text)
        if path.lower() != path:
            raise InvalidReference(f"{text!r}: repository name must be lowercase", ref=text)
        if not _PATH_RE.match(path):
            raise InvalidReference(f"{text!r}: invalid repository name {path!r}", ref=text)
        if tag is None and digest is None:
            tag = default_tag
        return cls(domain, path, tag, digest)

    # -- names --------------------------------------------------------------------------------
    @property
    def repository(self) -> str:
        """``domain/path``, the fully qualified repository name."""
        return f"{self.domain}/{self.path}"

    @property
    def api_host(self) -> str:
        """The host to send API requests to (Docker Hub's API lives on registry-1.docker.io)."""
        return DOCKER_HUB_API if self.domain == DOCKER_HUB else self.domain

    @property
    def identifier(self) -> str:
        """What goes after ``/manifests/``: the digest when there is one, else the tag."""
        return self.digest or self.tag or "latest"

    @property
    def familiar(self) -> str:
        """The short form docker prints (``python:3.12``, ``team/app``)."""
        return familiar(str(self))

    def with_digest(self, digest: str) -> "Reference":
        return replace(self, digest=digest)

    def with_tag(self, tag: str) -> "Reference":
        return replace(self, tag=tag, digest=None)

    def scope(self, actions: str = "pull") -> str:
        return f"repository:{self.path}:{actions}"

    def __str__(self) -> str:
        return self.repository + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def check_port(host: str, text: str | None = None) -> None:
    """InvalidReference unless the port of ``host`` (``name:port``, ``[v6]:port``), if any, is 1-65535."""
    port = host.rsplit("]", 1)[-1].rpartition(":")[2] if ":" in host.rsplit("]", 1)[-1] else None
    if port is not None and not (port.isdigit() and port.isascii() and len(port) <= 5 and 0 < int(port) <= 65535):
        raise InvalidReference(f"{text or host!r}: port {port[:20]!r} of registry host {host[:80]!r} is not a port "
                               "(1-65535)", ref=text or host)


def parse_repository(text: str) -> Reference:
    """A repository name without tag or digest (``python`` -> ``docker.io/library/python``)."""
    ref = Reference.parse(text, default_tag=None)
    if ref.tag or ref.digest:
        raise InvalidReference(f"{text!r}: give a repository without tag or digest", ref=text)
    return ref


def is_loopback(host: str) -> bool:
    """True for localhost and loopback IPs, where docker allows plain HTTP without being asked."""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def familiar(name: str) -> str:
    """``docker.io/library/alpine:3`` -> ``alpine:3``; ``docker.io/org/x:1`` -> ``org/x:1`` (as docker prints)."""
    if name.startswith("docker.io/"):
        name = name[len("docker.io/"):]
        if name.startswith("library/") and "/" not in name[len("library/"):].split(":")[0].split("@")[0]:
            name = name[len("library/"):]
    return name


def repository_of(name: str) -> str:
    """The repository part of a familiar reference (``org/x:1`` -> ``org/x``; ``host:5000/x:1`` -> ``host:5000/x``)."""
    name = name.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    return (head + "/" if head else "") + last.split(":", 1)[0]
