// ops.js - runs a JSON program of KafkaJS calls against one broker and prints
// one JSON line per step: {"i", "op", "ok": result} or {"i", "op", "error",
// "types"}. A failed step does not stop the program: error paths are steps
// like any other, and test_kafkajs.py checks every line.
//
//   node ops.js < program.json
//   program: {"brokers": ["127.0.0.1:PORT"], "kafka": {...}, "steps": [step...]}
//   steps:
//     {"op": "admin", "method": M, "args": [...]}      admin[M](...args)
//     {"op": "producer", "name": N, "config": {...}}   create + connect
//     {"op": "send", "name": N, "record": {...}}       producer.send, "compression"
//                                                      by name ("gzip"); returns
//                                                      the RecordMetadata list
//     {"op": "sendBatch", "name": N, "batch": {...}}   producer.sendBatch
//     {"op": "disconnect", "name": N}
//     {"op": "read", "topic": T, "count": C, "seek": [{partition, offset}],
//      "settleMs": S, "timeoutMs": X, "groupId": G, "consumer": {...}}
//        a consumer (its own group unless groupId, no commits) subscribed from
//        the beginning reads until it has C messages, then S ms more to catch
//        anything extra; "seek" moves partitions after run() starts
'use strict'

const { Partitioners, emit, exitAfterFlush, makeKafka, errorInfo, errorTypes, compression, messageInfo } =
  require('./common')

async function readTopic(kafka, step) {
  const consumer = kafka.consumer({
    groupId: step.groupId || `rmq-itest-read-${process.pid}-${Date.now()}-${Math.random()}`,
    maxWaitTimeInMs: 200,
    sessionTimeout: 10000,
    heartbeatInterval: 1000,
    ...(step.consumer || {}),
  })
  const got = []
  let done
  const enough = new Promise(resolve => { done = resolve })
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [step.topic], fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ topic, partition, message }) => {
        got.push(messageInfo(topic, partition, message))
        if (got.length >= step.count) done()
      },
    })
    for (const s of step.seek || []) {
      consumer.seek({ topic: step.topic, partition: s.partition, offset: String(s.offset) })
    }
    const timeoutMs = step.timeoutMs || 60000
    let timer
    const timedOut = new Promise(resolve => { timer = setTimeout(() => resolve('timeout'), timeoutMs) })
    const r = step.count > 0 ? await Promise.race([enough, timedOut]) : 'empty'
    clearTimeout(timer)
    if (r === 'timeout') {
      throw new Error(`read ${got.length} of ${step.count} messages from ${step.topic} in ${timeoutMs} ms`)
    }
    await new Promise(resolve => setTimeout(resolve, step.settleMs ?? 500))
    return got
  } finally {
    await consumer.disconnect()
  }
}

async function main() {
  let text = ''
  for await (const chunk of process.stdin) text += chunk
  const prog = JSON.parse(text)
  const kafka = makeKafka(prog.brokers, prog.kafka || {})
  const admin = kafka.admin()
  let adminConnected = false
  const producers = {}

  for (let i = 0; i < prog.steps.length; i++) {
    const step = prog.steps[i]
    try {
      let result
      switch (step.op) {
        case 'admin':
          if (!adminConnected) {
            await admin.connect()
            adminConnected = true
          }
          result = await admin[step.method](...(step.args || []))
          break
        case 'producer':
          producers[step.name] = kafka.producer({
            createPartitioner: Partitioners.DefaultPartitioner,
            ...(step.config || {}),
          })
          await producers[step.name].connect()
          result = true
          break
        case 'send':
          result = await producers[step.name].send({
            ...step.record,
            compression: compression(step.record.compression),
          })
          break
        case 'sendBatch':
          result = await producers[step.name].sendBatch({
            ...step.batch,
            compression: compression(step.batch.compression),
          })
          break
        case 'disconnect':
          await producers[step.name].disconnect()
          delete producers[step.name]
          result = true
          break
        case 'read':
          result = await readTopic(kafka, step)
          break
        default:
          throw new Error(`unknown op ${step.op}`)
      }
      emit({ i, op: step.op, method: step.method, ok: result === undefined ? null : result })
    } catch (e) {
      const info = errorInfo(e)
      emit({ i, op: step.op, method: step.method, error: info, types: errorTypes(info) })
    }
  }
  for (const p of Object.values(producers)) await p.disconnect()
  if (adminConnected) await admin.disconnect()
}

main().then(
  () => exitAfterFlush(0),
  e => {
    process.stderr.write(`ops.js: ${e.stack}\n`)
    exitAfterFlush(1)
  })
