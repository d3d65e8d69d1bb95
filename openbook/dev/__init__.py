"""`openbook dev` and the test suite's private servers.

    stack.py     private PostgreSQL and Redis (installs what is missing)
    run.py       `openbook dev`: the whole stack plus the example book
    static.py    a small static server for published folders (what nginx does in production)
"""
