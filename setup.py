# The package list and the C helpers; the rest of the package's metadata is in pyproject.toml.
from setuptools import Extension, find_namespace_packages, setup

# The repository keeps notebooks/ and data/ at its top; the wheel and sdist carry them as data
# packages inside layerlab (read with importlib.resources, see layerlab/_bundled/__init__.py).
# data/capture/ (18 MB of archives the tests and scripts use) stays out: ll.sample() does not need it.
BUNDLED = {"layerlab._bundled.notebooks": "notebooks", "layerlab._bundled.data": "data"}

setup(
    packages=find_namespace_packages(include=["layerlab*"]) + list(BUNDLED),
    package_dir=BUNDLED,
    include_package_data=False,  # only what package_data names (so not data/capture)
    package_data={
        "layerlab": ["py.typed", "analyses/hygiene/bloat_rules.csv"],
        "layerlab._bundled.notebooks": ["[0-9]*.ipynb"],
        "layerlab._bundled.data": ["README.md", "sample-*.layerlab/*", "drivers/*"],
    },
    ext_modules=[
        # optional: without a compiler, layerlab falls back to its Python walk (same rows, slower)
        Extension("layerlab.sources.layerfiles._fastwalk", ["layerlab/sources/layerfiles/_fastwalk.c"], optional=True),
        # optional: without it, tar layers read headers only are parsed in Python (same rows, slower)
        Extension("layerlab.sources.layerfiles._tarscan", ["layerlab/sources/layerfiles/_tarscan.c"], optional=True),
        # optional: without it, a local registry storage is listed and read in Python (same audit, slower)
        Extension("layerlab.sources.registry._storagescan", ["layerlab/sources/registry/_storagescan.c"],
                  optional=True),
        Extension("layerlab.analyses._firstblocks", ["layerlab/analyses/_firstblocks.c"], libraries=["z"],
                  optional=True),
    ],
)
