"""Metadata and offsets across restarts: topics, partition counts, topic
configs and deletions acknowledged by the admin APIs survive kill -9 and a
graceful restart, and producing after a restart continues at the high
watermark."""
import signal

import pytest
from confluent_kafka.admin import ConfigResource, NewPartitions

from helpers import (admin, create_topic, high_watermarks, produce_all,
                     producer, read_all, unique)


@pytest.mark.parametrize("how", ["kill9", "sigterm"])
def test_metadata_and_offsets_survive_restart(broker_factory, how):
    b = broker_factory(name="restart-" + how)
    a = admin(b.bootstrap)
    keep = create_topic(b.bootstrap, unique("keep"), 2, config={"retention.ms": "123456"})
    grow = create_topic(b.bootstrap, unique("grow"), 1)
    gone = create_topic(b.bootstrap, unique("gone"), 1)
    a.create_partitions([NewPartitions(grow, 3)])[grow].result(timeout=30)
    res = ConfigResource(ConfigResource.Type.TOPIC, keep,
                         set_config={"retention.ms": "654321", "max.message.bytes": "50000"})
    a.alter_configs([res])[res].result(timeout=30)
    a.delete_topics([gone], operation_timeout=30)[gone].result(timeout=30)
    log = produce_all(producer(b.bootstrap), keep,
                      [{"value": b"before-%d" % i, "partition": i % 2} for i in range(10)])
    assert not log.failed

    if how == "kill9":
        b.kill9()
    else:
        assert b.stop(signal.SIGTERM) == 0
    b.start()

    a = admin(b.bootstrap)
    md = a.list_topics(timeout=15)
    assert len(md.topics[keep].partitions) == 2
    assert len(md.topics[grow].partitions) == 3
    assert gone not in md.topics
    cfg = a.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, keep)])
    cfg = list(cfg.values())[0].result(timeout=30)
    assert cfg["retention.ms"].value == "654321"
    assert cfg["max.message.bytes"].value == "50000"
    assert high_watermarks(b.bootstrap, keep, 2) == {0: (0, 5), 1: (0, 5)}

    log = produce_all(producer(b.bootstrap), keep, [{"value": b"after", "partition": 0}])
    assert not log.failed and log.ok[0][2] == 5
    got = read_all(b.bootstrap, keep, 2)
    assert [m.value() for m in got[0]] == [b"before-%d" % i for i in range(0, 10, 2)] + [b"after"]
    assert [m.value() for m in got[1]] == [b"before-%d" % i for i in range(1, 10, 2)]
    # the restored max.message.bytes is enforced
    big = produce_all(producer(b.bootstrap, **{"retries": 0}), keep,
                      [{"value": b"z" * 60000, "partition": 1}])
    assert len(big.failed) == 1 and big.failed[0][1].code() == 10, big.failed
