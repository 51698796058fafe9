# Only for the optional C helpers; everything else about the package is in pyproject.toml.
from setuptools import Extension, setup

setup(
    ext_modules=[
        # optional: without a compiler, layerlab falls back to its Python walk (same rows, slower)
        Extension("layerlab.sources._fastwalk", ["layerlab/sources/_fastwalk.c"], optional=True),
        # optional: without it, tar layers read headers only are parsed in Python (same rows, slower)
        Extension("layerlab.sources._tarscan", ["layerlab/sources/_tarscan.c"], optional=True),
        Extension("layerlab.analyses._firstblocks", ["layerlab/analyses/_firstblocks.c"], libraries=["z"], optional=True),
    ]
)
