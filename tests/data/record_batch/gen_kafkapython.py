# kafka-python's pure-Python RecordBatch v2 builder (an implementation
# independent of librdkafka). Only gzip and none work on this machine (no
# python snappy/lz4/zstandard modules).
import sys
from kafka.record.default_records import DefaultRecordBatchBuilder
codec = {'none': 0, 'gzip': 1}[sys.argv[1]]
b = DefaultRecordBatchBuilder(magic=2, compression_type=codec, is_transactional=0,
                              producer_id=1234, producer_epoch=5, base_sequence=42, batch_size=1 << 20)
recs = [(b'alpha', b'one', []), (None, b'two' * 40, [('hk', b'hv'), ('e', b'')]), (b'gamma', None, [])]
for i, (k, v, h) in enumerate(recs):
    b.append(i, timestamp=1600000000000 + 10 * i, key=k, value=v, headers=h)
buf = bytes(b.build())
open(sys.argv[2], 'wb').write(buf)
print(len(buf), buf[:61].hex())
