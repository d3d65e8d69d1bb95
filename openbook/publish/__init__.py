"""Pure: a site as one commit configures it, rendered, ready to publish.

    compose.py    configuration files read, build_site, redirects, every problem in stats
    redirects.py  redirect pages of the site file's [redirects], added to a build

Used alike by the worker (deployments), `openbook check` and the studio's previews.
"""
