"""Storage drivers for the embedded registry: the interface, filesystem and in-memory."""

from hoist.server.storage.driver import FileInfo, FileWriter, PathNotFoundError, StorageDriver
from hoist.server.storage.filesystem import FilesystemDriver
from hoist.server.storage.memory import MemoryDriver

__all__ = [
    "FileInfo",
    "FileWriter",
    "FilesystemDriver",
    "MemoryDriver",
    "PathNotFoundError",
    "StorageDriver",
]
