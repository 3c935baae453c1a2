"""Graceful stop: SIGTERM (and SIGINT) while a producer is active exits 0, and
everything acknowledged is there after a restart."""
import random
import signal

import pytest

from helpers import create_topic, produce_until_interrupted, verify_load

PARTITIONS = 3


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_graceful_stop_under_load(broker_factory, sig):
    rnd = random.Random()
    b = broker_factory(name="graceful")
    topic = create_topic(b.bootstrap, "graceful-%d" % sig, PARTITIONS)
    codes = []
    res = produce_until_interrupted(b.bootstrap, topic, PARTITIONS,
                                    lambda: codes.append(b.stop(sig)), rnd, "g")
    assert codes == [0], "exit status after signal %d: %s" % (sig, codes)
    assert res.confirmed
    b.start()
    verify_load(b.bootstrap, topic, PARTITIONS, res)
    # a clean stop needs no recovery work of the next start to lose anything:
    # a second stop/start cycle without load keeps the same data
    assert b.stop() == 0
    b.start()
    verify_load(b.bootstrap, topic, PARTITIONS, res)
