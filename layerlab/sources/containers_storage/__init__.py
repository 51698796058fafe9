"""podman, buildah and CRI-O's image store (containers/storage), read without podman running."""
