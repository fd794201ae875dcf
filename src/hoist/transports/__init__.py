"""Sources and destinations of images: the local store, OCI layouts, docker archives, daemons
and registries. See `hoist.transports.base` for the two interfaces they share."""
