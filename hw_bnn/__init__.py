
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("hw_bnn")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "unknown"
