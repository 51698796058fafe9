"""Foreign (non-distributable) layers: blobs a manifest names with ``urls`` where they live (Windows
base images), which registries, ``skopeo copy`` to an OCI layout and ``docker save`` leave out.

Such a blob is fetched from its ``urls`` (in order; the first that answers) and checked against its
digest and size as any blob; no credential is ever sent with it (the urls are not the registry's:
containers/image fetches them without auth too), and a redirect from HTTPS to plain HTTP is refused.
``foreign_layers="skip"`` (CLI ``--foreign-layers skip``) leaves them out instead: the layer then
has no files rows and the ``skipped`` frame says which and why.
"""

from __future__ import annotations

from ..errors import ArchiveError, DigestMismatch, LayerDigestMismatch, LayerlabError
from ..oci.manifest import FOREIGN_TYPES
from .layerfiles.tarstream import LayerRead, read_layer

CHOICES = ("fetch", "skip")


class LayerSkipped(Exception):
    """A layer left out on purpose (``reason`` says why); its image is read without its files."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def check_choice(foreign_layers: str) -> str:
    if foreign_layers not in CHOICES:
        raise ValueError(f"foreign_layers={foreign_layers!r}; expected 'fetch' or 'skip'")
    return foreign_layers


def foreign_urls(desc: dict | None, media_type: str | None) -> list[str]:
    """The http(s) ``urls`` of a foreign layer's descriptor, or [] when it is not one."""
    if not desc or media_type not in FOREIGN_TYPES:
        return []
    urls = desc.get("urls") or []
    return [u for u in urls if isinstance(u, str) and u.split(":", 1)[0] in ("http", "https")]


def read_foreign(urls: list[str], digest: str, size: int | None, layer_id: str, what: str, *,
                 foreign_layers: str = "fetch", client=None, diff_id: str | None = None,
                 hash_files: bool = False) -> LayerRead:
    """Read a foreign layer from the first of ``urls`` that serves it, checked against ``digest``
    (and ``size``, ``diff_id``); LayerSkipped when ``foreign_layers`` is "skip". ``client``: a
    RegistryClient for its TLS, proxy and retry settings (one without credentials is made if None)."""
    if foreign_layers == "skip":
        raise LayerSkipped(f"a foreign layer (its blob lives at {', '.join(urls)}); not fetched, as "
                           "foreign_layers='skip' (--foreign-layers skip) asked")
    from .registry.client import RegistryClient

    own = client is None
    client = client or RegistryClient(docker_config=False, cache_dir=False)
    from .registry.deadline import body_deadline, read_some  # the body keeps coming, or the url is given up

    errors = []
    try:
        for url in urls:
            with body_deadline(client.deadline) as progress:
                try:
                    r = client.open_url(url, what=f"{what} from {url}")
                except LayerlabError as e:
                    errors.append(str(e))
                    continue

                def read(n: int) -> bytes:
                    data = read_some(r, n)
                    progress.arrived(len(data))
                    return data

                try:
                    got = read_layer(read, layer_id, f"{what} from {url}", blob_digest=digest, diff_id=diff_id,
                                     hash_files=hash_files)
                except LayerDigestMismatch as e:
                    raise DigestMismatch(f"{e}; the foreign layer's url serves other content") from None
                except Exception:
                    if progress.fired.is_set():
                        errors.append(f"{url}: the blob did not come within the "
                                      f"{format(client.deadline, 'g')} s deadline")
                        continue
                    raise
                finally:
                    r.close()
            if size is not None and size >= 0 and got.blob_size != size:
                raise DigestMismatch(f"{what} from {url}: the blob has {got.blob_size} bytes but the manifest says "
                                     f"{size}")
            return got
    finally:
        if own:
            client.close()
    raise ArchiveError(f"{what} is a foreign layer and none of its urls served it "
                       f"({'; '.join(errors) or 'no http(s) url'}); "
                       "check the network, or pass foreign_layers='skip' (--foreign-layers skip) to read the image "
                       "without it", path=what)
