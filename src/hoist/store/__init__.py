"""The local image store: an OCI image layout at `$HOIST_HOME`, shared safely by processes."""

from hoist.store.store import ImageStore, IndexEntry, Removal, StoredImage

__all__ = ["ImageStore", "IndexEntry", "Removal", "StoredImage"]
