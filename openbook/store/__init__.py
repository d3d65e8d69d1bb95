"""The pure content store: objects, trees, diffs, commits and merges (no I/O).

Storage is reached only through `source.ObjectSource` (batched reads); new
objects come back to the caller as ``{id: RawObject}`` to write before a
branch head moves.

    objects.py    ids, raw objects, canonical encodings, hashing
    paths.py      path, branch-name and commit-id validation
    source.py     ObjectSource protocol; PendingObjects overlay of new objects
    memory.py     MemoryObjectSource (dict-backed, for tests and tools)
    reader.py     batched, cached reads for one operation (internal)
    dirs.py       one directory as a history-independent node tree
    trees.py      apply_changes, lookup, list_dir, read_blob
    diff.py       diff_trees
    commits.py    make_commit, merge_bases, is_ancestor, log
    linemerge.py  line-level three-way merge of text
    merge.py      merge_trees, merge_commits, Conflict, MergeResult
"""
