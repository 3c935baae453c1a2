"""kill -9 during acks=all load: every acknowledged record must be readable
after restart at its acknowledged offset, in per-partition order, exactly
once per offset. 3 rounds by default, 20 with RMQ_SOAK=1. Each round uses a
new topic on the same broker and data directory; after each restart the
current and the previous round are checked, and after the last one every
round again."""
import os
import random

from helpers import create_topic, produce_until_interrupted, verify_load

ROUNDS = 20 if os.environ.get("RMQ_SOAK") == "1" else 3
PARTITIONS = 4


def test_kill9_during_produce(broker_factory):
    seed = int(os.environ.get("RMQ_SEED", random.randrange(1 << 30)))
    print("RMQ_SEED=%d" % seed)
    rnd = random.Random(seed)
    # A round writes up to ~30 MiB of WAL and nothing reclaims WAL space yet
    # (no uploader), so the capacity grows with the number of rounds.
    b = broker_factory(name="kill9", config={
        "wal": {"capacity_bytes": max(256, 48 * ROUNDS) * 1024 * 1024}})
    history = []
    for r in range(ROUNDS):
        topic = create_topic(b.bootstrap, "kill9-%d-%d" % (seed, r), PARTITIONS)
        res = produce_until_interrupted(b.bootstrap, topic, PARTITIONS, b.kill9, rnd, "r%d" % r)
        assert b.last_exit == -9, "broker exit status %s, expected SIGKILL" % b.last_exit
        assert res.confirmed, "round %d: nothing acknowledged before the kill" % r
        history.append((topic, res))
        b.start()
        # this round's topic and the previous one after every restart (the
        # previous one has now survived two crashes); all of them at the end
        check = history if r == ROUNDS - 1 else history[-2:]
        for t, old in check:
            verify_load(b.bootstrap, t, PARTITIONS, old)
        print("round %d: %d acknowledged, %d failed" % (r, len(res.confirmed), len(res.failed)))
    assert b.stop() == 0
