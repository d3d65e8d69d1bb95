"""The pure site renderer: content files + theme chain + settings → output files.

No file, network or database I/O happens here; `openbook.fs.themes` reads
theme folders, the worker writes the result.
"""

from openbook.render.keys import build_key
from openbook.render.result import BuildResult, OutputFile
from openbook.render.settings import SiteSettings
from openbook.render.site import build_site
from openbook.render.theme import ThemeChain, ThemeLayer

__all__ = ["BuildResult", "OutputFile", "SiteSettings", "ThemeChain", "ThemeLayer", "build_key", "build_site"]
