"""The file-system adapter: everything OpenBook reads from or writes to local folders.

    storage.py   STORAGE_PATH: atomic build folders, `live` and `_hosts` symlinks
    themes.py    theme folders (built-in and THEMES_PATH) read into ThemeChains
    scan.py      a local content folder read into path → bytes (push, preview)
"""
