"""Docker schema1 manifests (``application/vnd.docker.distribution.manifest.v1+json`` and the signed
``v1+prettyjws``), read as skopeo (containers/image) reads them: the digest of a signed manifest is
the digest of its payload (the JSON without its ``signatures``, as libtrust cuts it out), layers are
``fsLayers`` in reverse (base first), ``throwaway`` layers are empty and left out, and the image
config is synthesized from the ``v1Compatibility`` history (``ToSchema2Config``) once the layers'
diff IDs are known (a schema1 manifest does not carry them: the layers must be read first).

Hand-written: no Python package reads libtrust's "pretty" JWS; the cut is a few lines.
"""

from __future__ import annotations

import base64
import json
import re

from ..errors import UnsupportedManifest
from ..untrusted import load_json

_HEX64 = re.compile(r"[a-f0-9]{64}")
#: The fields of a v1Compatibility entry that are not part of an image config (ToSchema2Config drops them).
_NOT_CONFIG = ("id", "parent", "parent_id", "layer_id", "throwaway", "Size")


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def payload(body: bytes, what: str) -> bytes:
    """The bytes a schema1 manifest's digest covers: the body itself when unsigned, else the signed
    payload (``body[:formatLength] + formatTail`` of its signatures' protected headers, as libtrust's
    ``ParsePrettySignature`` gives it; every signature must name the same cut)."""
    try:
        doc = load_json(body)
    except ValueError:
        raise UnsupportedManifest(f"{what}: the schema1 manifest is not JSON") from None
    sigs = doc.get("signatures") if isinstance(doc, dict) else None
    if sigs is None:
        return body
    cut = None
    try:
        for sig in sigs:
            protected = load_json(_b64url(sig["protected"]))
            this = (int(protected["formatLength"]), _b64url(protected["formatTail"]))
            if cut is not None and this != cut:
                raise ValueError("signatures name different payloads")
            cut = this
    except (KeyError, TypeError, ValueError) as e:
        raise UnsupportedManifest(f"{what}: the signed schema1 manifest's signatures cannot be read ({e}); "
                                  "the registry is misbehaving") from None
    if cut is None or not 0 < cut[0] <= len(body):
        raise UnsupportedManifest(f"{what}: the signed schema1 manifest has no usable signature")
    return body[:cut[0]] + cut[1]


class Schema1:
    """A parsed schema1 manifest (its payload): history and layers base first, duplicates dropped."""

    def __init__(self, data: dict, what: str):
        self.what = what
        layers = data.get("fsLayers") or []
        history = data.get("history") or []
        if not layers or len(layers) != len(history):
            raise UnsupportedManifest(f"{what}: the schema1 manifest has {len(layers)} fsLayers and {len(history)} "
                                      "history entries; they must be as many, and at least one")
        try:
            compat = [load_json(h["v1Compatibility"]) for h in history]
            blobs = [l["blobSum"] for l in layers]
        except (KeyError, TypeError, ValueError) as e:
            raise UnsupportedManifest(f"{what}: a schema1 history entry or layer cannot be read ({e})") from None
        for c in compat:
            if not isinstance(c, dict) or not _HEX64.fullmatch(str(c.get("id"))):
                raise UnsupportedManifest(f"{what}: a schema1 history entry has no valid v1 image id")
        if compat[-1].get("parent"):
            raise UnsupportedManifest(f"{what}: the schema1 base layer names a parent; the manifest is damaged")
        # fixManifestLayers: one entry per layer ID (repeated neighbours dropped), parents chained.
        i = len(compat) - 2
        while i >= 0:
            if compat[i]["id"] == compat[i + 1]["id"]:
                del compat[i], blobs[i], history[i]
            elif compat[i].get("parent") != compat[i + 1]["id"]:
                raise UnsupportedManifest(f"{what}: schema1 history entry {i} names parent "
                                          f"{compat[i].get('parent')!r}, "
                                          f"not {compat[i + 1]['id']}; the manifest is damaged")
            i -= 1
        self.top = history[0]["v1Compatibility"]  # the image's own entry: the config's source
        self.compat = compat[::-1]  # base first
        self.blobs = blobs[::-1]
        self.architecture = data.get("architecture")

    @property
    def layer_digests(self) -> list[str]:
        """The blobs that hold layers, base first (throwaway entries are empty layers: left out)."""
        return [b for b, c in zip(self.blobs, self.compat) if not c.get("throwaway")]

    def config(self, diff_ids: list[str]) -> bytes:
        """The image config skopeo's ToSchema2Config makes of it, given the layers' diff IDs, as bytes
        (Go's encoding: keys sorted, compact, HTML characters escaped), so its digest is skopeo's."""
        raw = load_json(self.top)
        for key in _NOT_CONFIG:
            raw.pop(key, None)
        raw["rootfs"] = {"type": "layers", "diff_ids": list(diff_ids)}
        history = []
        for c in self.compat:
            item = {"created": _go_time(c.get("created"))}
            for key, value in (("author", c.get("author")),
                               ("created_by", " ".join(((c.get("container_config") or {}).get("Cmd") or []))),
                               ("comment", c.get("comment")), ("empty_layer", bool(c.get("throwaway")))):
                if value:
                    item[key] = value
            history.append(item)
        raw["history"] = history
        return _go_json(raw)


def _go_json(value: dict) -> bytes:
    """JSON as Go's encoding/json writes a map of raw messages: top-level keys sorted, each value
    compacted in its own order, no spaces, <, > and & escaped."""
    text = "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + json.dumps(value[k], separators=(",", ":"),
                                                                              ensure_ascii=False)
                          for k in sorted(value)) + "}"
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text.encode()


def _go_time(value) -> str:
    """A v1Compatibility ``created`` as Go's time.Time writes it back (RFC 3339, nanoseconds without
    trailing zeros); the zero time when absent."""
    if not value:
        return "0001-01-01T00:00:00Z"
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", str(value))
    if not m:
        return str(value)
    frac = (m.group(2) or "").rstrip("0")
    return m.group(1) + (f".{frac}" if frac else "") + m.group(3)

