"""Puhui (普惠): an inclusive-finance credit information platform."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("puhui")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
