"""Randomized exactly-once stress test of the stream reader on real Spark (issue 10 item 5).

Modelled on Spark's `StreamTest.runStressTest`: each round is a seeded list of actions
(append records to streams, inject faults, run / stop / SIGKILL the query, change options)
against one exact expected answer — every record of every stream in the sink once. A failing
round prints its seed and action list, so it replays:

    python -m tests.stress --rounds 100 --seed 1234
    python -m tests.stress --seed 1234 --round 17     # only round 17 of seed 1234

`plan` generates the actions (pure), `kinds` builds reader options per offset kind,
`runner` executes them against the demo API, `child` is the killable streaming process.
"""
