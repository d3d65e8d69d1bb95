"""`openbook preview`: render a folder in memory, serve it, reload pages on change.

    server.py    the preview app and its build loop
    watch.py     which watched folder changed (watchfiles)
"""
