"""The deployment worker: Redis Streams consumer, lease-fenced builds, atomic storage.

    main.py      `openbook worker`: start-up, signals, the outbox relay, `deploy_one`
    consumer.py  XREADGROUP / XAUTOCLAIM / XACK / dead-letter loop
    deploy.py    one deployment under a lease: pending -> building -> deployed | failed
    build.py     commit tree below the site root -> renderer -> publish
"""
