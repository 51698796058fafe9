"""Client set-up errors that need no registry: they must say what was wrong and what to do."""

import pytest

from layerlab.errors import RegistryError
from layerlab.sources.registry import RegistryClient


def client(verify) -> RegistryClient:
    return RegistryClient(docker_config=False, cache_dir=False, verify=verify)


def test_a_missing_ca_file_is_a_clear_error(tmp_path):
    with client(tmp_path / "missing.pem") as c, pytest.raises(RegistryError, match="cannot read the CA file"):
        c.tags("registry.invalid/team/app")


def test_a_ca_file_without_certificates_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    with client(bad) as c, pytest.raises(RegistryError, match="no PEM certificate"):
        c.tags("registry.invalid/team/app")
