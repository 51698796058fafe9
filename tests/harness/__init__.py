"""Real components for tests, benchmarks and the sample capture: dockerd, a registry, containerd.

Nothing here is a stand-in: each helper starts the real program on loopback in a temporary
directory and stops it again.
"""
