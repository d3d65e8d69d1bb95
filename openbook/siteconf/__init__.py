"""Site configuration files found in the content tree (`openbook.toml`, and another tool's:
`book.toml`, `mkdocs.yml`, `.gitbook.yaml`), and their precedence.

Pure: no file, network or database I/O. The caller hands in the content and
a way to know whether a theme exists; errors are `RenderError`s naming the
file, the line and the key.
"""

from openbook.siteconf.books import BookFile
from openbook.siteconf.detect import read_book_file
from openbook.siteconf.precedence import SiteConfig, SiteRow, combine
from openbook.siteconf.sitefile import (
    SITE_FILE,
    Redirect,
    SiteFile,
    ThemeExists,
    collect_site_file,
    parse_site_file,
    read_site_file,
    site_file_path,
)

__all__ = [
    "SITE_FILE",
    "BookFile",
    "Redirect",
    "SiteConfig",
    "SiteFile",
    "SiteRow",
    "ThemeExists",
    "collect_site_file",
    "combine",
    "parse_site_file",
    "read_book_file",
    "read_site_file",
    "site_file_path",
]
