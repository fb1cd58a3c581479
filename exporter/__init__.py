"""wolkvox-exporter: Prometheus metrics for Wolkvox outbound dialing campaigns."""

from importlib.metadata import PackageNotFoundError, version

try:
    # Set at build time by setuptools-scm from the git tag (README "Releases").
    __version__ = version("wolkvox-exporter")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"
