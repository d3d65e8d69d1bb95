"""What the API and the worker share to carry a deployment from its row to a build.

    relay.py     the outbox relay: re-sends deployments whose XADD did not happen
"""
