"""hoist: push, pull and copy container images to and from any registry, without a daemon.

The package root stays import-light on purpose: `hoist --version` and every command's cold
start import only what they use. The public API lives in the modules named for what they are
(`hoist.reference`, `hoist.oci`, `hoist.store`, `hoist.copy`, ...).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
