# Produce 5 records with librdkafka (confluent_kafka) into its in-process mock
# cluster, then Fetch v4 the raw partition bytes with kafka-python's protocol
# classes and write them out verbatim.
import sys, time, re, logging, socket, struct
from confluent_kafka import Producer
from kafka.protocol.fetch import FetchRequest
from kafka.protocol.frame import KafkaBytes
codec, out = sys.argv[1], sys.argv[2]
logs = []
class H(logging.Handler):
    def emit(self, r): logs.append(r.getMessage())
lg = logging.getLogger('rk'); lg.addHandler(H()); lg.setLevel(logging.DEBUG)
p = Producer({'bootstrap.servers':'x:1','test.mock.num.brokers':1,'compression.codec':codec,
              'linger.ms':100,'debug':'broker','enable.idempotence':True}, logger=lg)
recs = [(b'k0', b'value-0-'*3, None), (b'k1', b'value-1-'*3, [('h1', b'v1'), ('h2', None)]),
        (None, b'value-2-'*3, None), (b'k3', None, None), (b'k4', b'', None)]
for i, (k, v, h) in enumerate(recs):
    p.produce('t', key=k, value=v, headers=h, timestamp=1700000000000 + i, partition=0)
p.flush(5)
port = None
for l in logs:
    m = re.search(r'replaced with 127\.0\.0\.1:(\d+)', l)
    if m: port = int(m.group(1))
req = FetchRequest[4](replica_id=-1, max_wait_time=100, min_bytes=1, max_bytes=1<<20,
                      isolation_level=0, topics=[('t', [(0, 0, 1<<20)])])
s = socket.create_connection(('127.0.0.1', port))
body = struct.pack('>hhih', 1, 4, 7, 3) + b'gen' + req.encode()
s.sendall(struct.pack('>i', len(body)) + body)
def rd(n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b)); assert c; b += c
    return b
n = struct.unpack('>i', rd(4))[0]
data = rd(n)
from kafka.protocol.types import Int32
import io
bio = io.BytesIO(data[4:])
resp = req.RESPONSE_TYPE.decode(bio)
recsb = resp.topics[0][1][0][-1]
open(out, 'wb').write(recsb)
print(codec, len(recsb), recsb[:70].hex())
