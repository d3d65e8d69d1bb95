"""What the API and the worker share to carry a deployment from its row to a build.

    loops.py     what the loops share (a swallowed cancellation still stops them)
    relay.py     the outbox relay: re-sends deployments whose XADD did not happen
"""
