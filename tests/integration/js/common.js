// common.js - shared by the KafkaJS scripts of test_kafkajs.py: the client
// factory (logs to stderr, stdout carries JSON only), error serialisation and
// the JSON-lines output. kafkajs is found through NODE_PATH
// (tests/tools/kafkajs.sh path).
'use strict'

const { Kafka, logLevel, CompressionTypes, Partitioners } = require('kafkajs')

// stdout is the result channel: one JSON document per line
function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

// KafkaJS logs through console.info by default, which is stdout; send every
// log line to stderr instead, where pytest shows it when a test fails
function stderrLogCreator() {
  return ({ namespace, level, label, log }) => {
    const { message, ...extra } = log
    process.stderr.write(`[kafkajs ${label} ${namespace}] ${message} ${JSON.stringify(extra)}\n`)
  }
}

function makeKafka(brokers, extra = {}) {
  return new Kafka({
    clientId: 'rmq-itest-kafkajs',
    brokers,
    logLevel: logLevel.INFO,
    logCreator: stderrLogCreator,
    connectionTimeout: 10000,
    requestTimeout: 30000,
    retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
    ...extra,
  })
}

// An error as data: name, KafkaJS protocol type and code, retriable, and the
// causes KafkaJS wraps (originalError of a retry wrapper, errors of an
// aggregate such as createTopics'), so the test can name the broker's code.
// KafkaJS 2.2.4 keeps a retry wrapper's cause in .cause (older: .originalError).
function errorInfo(e, depth = 0) {
  if (e == null || depth > 4) return null
  const out = { name: e.name, message: e.message }
  if (e.type !== undefined) out.type = e.type
  if (e.code !== undefined) out.code = e.code
  if (e.retriable !== undefined) out.retriable = e.retriable
  if (e.topic !== undefined) out.topic = e.topic
  const cause = e.cause || e.originalError
  if (cause && cause !== e) out.cause = errorInfo(cause, depth + 1)
  if (Array.isArray(e.errors)) out.errors = e.errors.map(x => errorInfo(x, depth + 1))
  // KafkaJSDeleteTopicRecordsError: one error per partition
  if (Array.isArray(e.partitions)) {
    out.errors = (out.errors || []).concat(
      e.partitions.filter(p => p.error).map(p => errorInfo(p.error, depth + 1)))
  }
  return out
}

// every protocol error type found in an error and its causes
function errorTypes(info, acc = []) {
  if (!info) return acc
  if (info.type) acc.push(info.type)
  errorTypes(info.cause, acc)
  for (const x of info.errors || []) errorTypes(x, acc)
  return acc
}

function compression(name) {
  if (!name) return CompressionTypes.None
  const c = CompressionTypes[name.toUpperCase()] ?? CompressionTypes[name]
  if (c === undefined) throw new Error(`unknown compression ${name}`)
  return c
}

// a KafkaJS message as JSON (Buffers to strings, headers flattened)
function messageInfo(topic, partition, m) {
  const headers = {}
  for (const [k, v] of Object.entries(m.headers || {})) {
    headers[k] = Array.isArray(v) ? v.map(x => x.toString()) : v == null ? null : v.toString()
  }
  return {
    topic,
    partition,
    offset: m.offset,
    key: m.key == null ? null : m.key.toString(),
    value: m.value == null ? null : m.value.toString(),
    headers,
    timestamp: m.timestamp,
  }
}

// exit once everything emitted has reached the pipe: process.exit() alone
// drops what a slow reader has not taken yet (stdout to a pipe is async)
function exitAfterFlush(code) {
  process.stdout.write('', () => process.exit(code))
}

module.exports = {
  Partitioners, emit, exitAfterFlush, makeKafka, errorInfo, errorTypes, compression, messageInfo,
}
