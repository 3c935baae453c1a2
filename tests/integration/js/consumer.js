// consumer.js - one KafkaJS group member for test_kafkajs.py, driven over
// stdin/stdout. Prints JSON lines: {"event": "join", "memberId", "isLeader",
// "assignment": {topic: [partitions]}}, {"event": "msg", ...message},
// {"event": "commit", "topics": [...]} for each offset commit KafkaJS reports,
// {"event": "crash", "error"} and, after "stop" on stdin (a graceful leave:
// LeaveGroup), {"event": "stopped"}.
//
//   node consumer.js '{"brokers": [...], "groupId": G, "topic": T,
//                      "fromBeginning": true, "consumer": {...}}'
'use strict'

const { emit, exitAfterFlush, makeKafka, errorInfo, messageInfo } = require('./common')

async function main() {
  const cfg = JSON.parse(process.argv[2])
  const kafka = makeKafka(cfg.brokers)
  const consumer = kafka.consumer({
    groupId: cfg.groupId,
    maxWaitTimeInMs: 200,
    sessionTimeout: 10000,
    rebalanceTimeout: 20000,
    heartbeatInterval: 500,
    ...(cfg.consumer || {}),
  })
  const { GROUP_JOIN, COMMIT_OFFSETS, CRASH } = consumer.events
  consumer.on(GROUP_JOIN, e => emit({
    event: 'join',
    memberId: e.payload.memberId,
    leaderId: e.payload.leaderId,
    isLeader: e.payload.isLeader,
    assignment: e.payload.memberAssignment,
  }))
  consumer.on(COMMIT_OFFSETS, e => emit({ event: 'commit', topics: e.payload.topics }))
  consumer.on(CRASH, e => emit({ event: 'crash', error: errorInfo(e.payload.error) }))

  await consumer.connect()
  await consumer.subscribe({ topics: [cfg.topic], fromBeginning: cfg.fromBeginning !== false })
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      emit({ event: 'msg', ...messageInfo(topic, partition, message) })
    },
  })
  emit({ event: 'running' })

  let buf = ''
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', async chunk => {
    buf += chunk
    let nl
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim()
      buf = buf.slice(nl + 1)
      if (line === 'stop') {
        await consumer.disconnect()
        emit({ event: 'stopped' })
        exitAfterFlush(0)
      }
    }
  })
}

main().catch(e => {
  emit({ event: 'crash', error: errorInfo(e) })
  process.stderr.write(`consumer.js: ${e.stack}\n`)
  exitAfterFlush(1)
})
