"""A small real token server (distribution's token auth) on 127.0.0.1, for tests.

It issues ES256 JWTs signed by a key whose self-signed certificate is the registry's
``rootcertbundle``; the certificate travels in the JWT's ``x5c`` header, which is how
distribution finds and checks the signing key. Users get pull and push on every repository
(and the catalog); anonymous clients get pull only when ``anonymous_pull`` is True. Besides GET
with Basic credentials it takes the OAuth2 form docker uses for identity tokens (POST with
``grant_type=refresh_token``), for the refresh tokens given as ``identity_tokens``.

    with TokenServer(tmp / "tokens", users={"alice": "pw"}) as ts, Registry(tmp / "reg", token=ts) as reg:
        ...
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """Issue tokens at ``.realm`` for ``.service``; ``.cert_file`` is the registry's rootcertbundle."""

    def __init__(self, workdir, users: dict[str, str] | None = None, *, anonymous_pull: bool = False,
                 identity_tokens: dict[str, str] | None = None, service: str = "layerlab-test-registry",
                 issuer: str = "layerlab-test-issuer", expires_in: int = 300):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.users = dict(users or {})
        self.anonymous_pull = anonymous_pull
        self.identity_tokens = dict(identity_tokens or {})  # refresh token -> user
        self.service, self.issuer, self.expires_in = service, issuer, expires_in
        self._key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "layerlab test token signer")])
        now = _dt.datetime.now(_dt.timezone.utc)
        self._cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                      .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
                      .not_valid_before(now - _dt.timedelta(minutes=5)).not_valid_after(now + _dt.timedelta(days=1))
                      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                      .sign(self._key, hashes.SHA256()))
        self.cert_file = self.workdir / "token-signer.crt"
        self.cert_file.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode()
        #: every request: (scopes asked, user or None, granted access, HTTP method) — for tests to assert on
        self.requests: list[tuple[list[str], str | None, list[dict], str]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.realm = ""

    def sign(self, claims: dict) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        header = {"typ": "JWT", "alg": "ES256", "x5c": [self._x5c]}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        r, s = decode_dss_signature(self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def grant(self, user: str | None, scopes: list[str]) -> list[dict]:
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) != 3:
                continue
            kind, name, actions = parts
            wanted = set(actions.split(","))
            if kind == "repository":
                allowed = {"pull", "push"} if user else ({"pull"} if self.anonymous_pull else set())
            elif kind == "registry" and name == "catalog":
                allowed = {"*"} if user else set()
            else:
                allowed = set()
            granted = sorted(wanted & allowed)
            if granted:
                access.append({"type": kind, "name": name, "actions": granted})
        return access

    def issue(self, user: str | None, scopes: list[str], method: str = "GET") -> dict:
        now = int(time.time())
        access = self.grant(user, scopes)
        self.requests.append((scopes, user, access, method))
        claims = {"iss": self.issuer, "sub": user or "", "aud": self.service, "exp": now + self.expires_in,
                  "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8), "access": access}
        token = self.sign(claims)
        return {"token": token, "access_token": token, "expires_in": self.expires_in,
                "issued_at": _dt.datetime.fromtimestamp(now, _dt.timezone.utc).isoformat()}

    def start(self) -> "TokenServer":
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def answer(self, status: int, data: dict | None = None):
                body = json.dumps(data).encode() if data is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                query = parse_qs(urlsplit(self.path).query)
                user = None
                header = self.headers.get("Authorization", "")
                if header.startswith("Basic "):
                    name, _, password = base64.b64decode(header[6:]).decode().partition(":")
                    if outer.users.get(name) != password:
                        return self.answer(401)
                    user = name
                scopes = [s for value in query.get("scope", []) for s in value.split()]
                self.answer(200, outer.issue(user, scopes))

            def do_POST(self):  # the OAuth2 form: grant_type=refresh_token with an identity token
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                user = outer.identity_tokens.get((form.get("refresh_token") or [""])[0])
                if (form.get("grant_type") or [""])[0] != "refresh_token" or user is None:
                    return self.answer(401, {"error": "invalid_grant"})
                scopes = [s for value in form.get("scope", []) for s in value.split()]
                self.answer(200, outer.issue(user, scopes, method="POST"))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.realm = f"http://127.0.0.1:{self._server.server_address[1]}/token"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "TokenServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
