"""The mapping between OpenBook's store and git's objects (pure: no I/O; docs/git.md).

    objects.py    git ids and modes; the export encodings of trees and commits; reading pushed ones
    index.py      GitRow (git id ↔ OpenBook object), the GitIndex seam, MemoryGitIndex
    export.py     export_commits: OpenBook commits → git objects, only what the index lacks
    importer.py   import_commit: pushed git commits → OpenBook objects, or PushRefused
    sendset.py    plan_pack: the objects a fetch sends, skipping what parents share at the same path
    pack.py       read a pushed pack into memory, bounded
"""
