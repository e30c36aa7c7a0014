"""hkc: the quarterly habitual-knife-carrier matrix, done transparently.

The library is organised in subpackages by pipeline stage, each behind a small face; the command
line (``cli.py``) is a thin client::

    from hkc.definitions import load_definitions
    from hkc.extract import load_extract
    from hkc.matrix import score_people
    from hkc.refresh import run_refresh
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hkc")
except PackageNotFoundError:  # running from a source checkout that is not installed
    __version__ = "0.1.0+source"

__all__ = ["__version__"]
