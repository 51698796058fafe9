# Only for the optional C helpers; everything else about the package is in pyproject.toml.
from setuptools import Extension, setup

setup(
    ext_modules=[
        # optional: without a compiler, layerlab falls back to its Python walk (same rows, slower)
        Extension("layerlab.sources.layerfiles._fastwalk", ["layerlab/sources/layerfiles/_fastwalk.c"], optional=True),
        Extension("layerlab.analyses._firstblocks", ["layerlab/analyses/_firstblocks.c"], libraries=["z"], optional=True),
    ]
)
