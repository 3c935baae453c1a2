// saramacheck - drives a RustMQ broker with Sarama 1.22 (Debian's
// golang-github-shopify-sarama-dev), the Go Kafka client, for
// tests/integration/test_sarama.py.
//
// One subcommand per scenario; each prints one JSON document on stdout with
// what it observed (offsets, keys, values, headers, timestamps, error codes,
// configs) and exits 0, or prints {"error": "..."} and exits 1 when the
// scenario could not run to its end. The pytest compares the observations
// with what Kafka answers; the Go side only compares the bulk data it sent
// with what it read back (thousands of records) and reports every mismatch.
//
// Built offline against Debian's gocode tree:
//
//	GOPATH=/usr/share/gocode GO111MODULE=off go build -o saramacheck main.go
//
// Every wait is bounded (-timeout); a broker that does not answer fails the
// scenario instead of hanging it. Sarama's own log goes to stderr with -v.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

var (
	flagBrokers = flag.String("brokers", "127.0.0.1:9092", "bootstrap address")
	flagVersion = flag.String("version", "2.1.0", "Kafka version Sarama assumes (config.Version)")
	flagTopic   = flag.String("topic", "", "topic (created by the scenario unless said otherwise)")
	flagGroup   = flag.String("group", "", "consumer group id")
	flagN       = flag.Int("n", 200, "number of records")
	flagParts   = flag.Int("partitions", 3, "partitions of the topic the scenario creates")
	flagAcks    = flag.String("acks", "all", "all | local | none")
	flagComp    = flag.String("compression", "none", "none | gzip | snappy | lz4 | zstd")
	flagTimeout = flag.Duration("timeout", 60*time.Second, "bound of every wait")
	flagFetch   = flag.Int("fetch-bytes", 0, "consumers' Consumer.Fetch.Default (0: Sarama's 1 MiB)")
	flagVerbose = flag.Bool("v", false, "Sarama's log on stderr")
)

type obs map[string]interface{}

func fail(format string, a ...interface{}) {
	out, _ := json.Marshal(obs{"error": fmt.Sprintf(format, a...)})
	fmt.Println(string(out))
	os.Exit(1)
}

func must(err error, what string) {
	if err != nil {
		fail("%s: %v", what, err)
	}
}

func config() *sarama.Config {
	v, err := sarama.ParseKafkaVersion(*flagVersion)
	must(err, "version")
	c := sarama.NewConfig()
	c.Version = v
	c.ClientID = "saramacheck"
	c.Admin.Timeout = 30 * time.Second
	c.Metadata.Retry.Max = 10
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	c.Consumer.Return.Errors = true
	c.Consumer.MaxWaitTime = 100 * time.Millisecond
	if *flagFetch > 0 {
		// small fetches: responses end inside a batch, Sarama must grow its
		// fetch size and keep going
		c.Consumer.Fetch.Default = int32(*flagFetch)
	}
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Timeout = 30 * time.Second
	return c
}

func brokers() []string { return strings.Split(*flagBrokers, ",") }

// kerr is the Kafka error code of err (0 for nil, -1 when err carries none).
func kerr(err error) int {
	if err == nil {
		return 0
	}
	var ke sarama.KError
	if errors.As(err, &ke) {
		return int(ke)
	}
	var te *sarama.TopicError
	if errors.As(err, &te) {
		return int(te.Err)
	}
	var tpe *sarama.TopicPartitionError
	if errors.As(err, &tpe) {
		return int(tpe.Err)
	}
	var pe *sarama.ProducerError
	if errors.As(err, &pe) {
		return kerr(pe.Err)
	}
	var pes sarama.ProducerErrors
	if errors.As(err, &pes) && len(pes) > 0 {
		return kerr(pes[0].Err)
	}
	var ce *sarama.ConsumerError
	if errors.As(err, &ce) {
		return kerr(ce.Err)
	}
	return -1
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// ---------------------------------------------------------------- records

// rec is one record as sent or as read back.
type rec struct {
	Partition int32             `json:"partition"`
	Offset    int64             `json:"offset"`
	Key       string            `json:"key"`
	Value     string            `json:"value"`
	Headers   map[string]string `json:"headers"`
	TsMs      int64             `json:"ts_ms"`
}

const baseTsMs = int64(1600000000000)

// makeMsg builds record i of a scenario: a key that maps it to a partition
// chosen by the caller, two headers and an explicit timestamp.
func makeMsg(topic string, i int, part int32, tag string) *sarama.ProducerMessage {
	val := fmt.Sprintf("%s-%06d-%s", tag, i, strings.Repeat("v", i%97))
	return &sarama.ProducerMessage{
		Topic:     topic,
		Partition: part,
		Key:       sarama.StringEncoder(fmt.Sprintf("key-%d", i%17)),
		Value:     sarama.StringEncoder(val),
		Headers: []sarama.RecordHeader{
			{Key: []byte("idx"), Value: []byte(fmt.Sprint(i))},
			{Key: []byte("tag"), Value: []byte(tag)},
		},
		Timestamp: time.Unix(0, (baseTsMs+int64(i)*10)*int64(time.Millisecond)),
	}
}

func fromProducer(m *sarama.ProducerMessage) rec {
	k, _ := m.Key.Encode()
	v, _ := m.Value.Encode()
	h := map[string]string{}
	for _, x := range m.Headers {
		h[string(x.Key)] = string(x.Value)
	}
	return rec{m.Partition, m.Offset, string(k), string(v), h, m.Timestamp.UnixNano() / int64(time.Millisecond)}
}

func fromConsumer(m *sarama.ConsumerMessage) rec {
	h := map[string]string{}
	for _, x := range m.Headers {
		h[string(x.Key)] = string(x.Value)
	}
	return rec{m.Partition, m.Offset, string(m.Key), string(m.Value), h, m.Timestamp.UnixNano() / int64(time.Millisecond)}
}

func sameRec(a, b rec) bool {
	if a.Partition != b.Partition || a.Offset != b.Offset || a.Key != b.Key || a.Value != b.Value || a.TsMs != b.TsMs {
		return false
	}
	if len(a.Headers) != len(b.Headers) {
		return false
	}
	for k, v := range a.Headers {
		if b.Headers[k] != v {
			return false
		}
	}
	return true
}

// readPartition reads partition p of topic from offset start until n records
// arrived (bounded by -timeout), then waits briefly for anything beyond them.
func readPartition(c sarama.Consumer, topic string, p int32, start int64, n int) ([]rec, []rec, error) {
	pc, err := c.ConsumePartition(topic, p, start)
	if err != nil {
		return nil, nil, err
	}
	defer pc.Close()
	var out []rec
	deadline := time.After(*flagTimeout)
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, fromConsumer(m))
		case e := <-pc.Errors():
			return out, nil, e
		case <-deadline:
			return out, nil, fmt.Errorf("partition %d: read %d of %d records before the timeout", p, len(out), n)
		}
	}
	var extra []rec
	quiet := time.After(500 * time.Millisecond)
	for {
		select {
		case m := <-pc.Messages():
			extra = append(extra, fromConsumer(m))
		case <-quiet:
			return out, extra, nil
		}
	}
}

func newAdmin() sarama.ClusterAdmin {
	a, err := sarama.NewClusterAdmin(brokers(), config())
	must(err, "NewClusterAdmin")
	return a
}

func createTopic(a sarama.ClusterAdmin, topic string, parts int, cfg map[string]*string) {
	must(a.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: int32(parts), ReplicationFactor: 1,
		ConfigEntries: cfg}, false), "CreateTopic "+topic)
	waitPartitions(a, topic, parts)
}

// setupTopic: create topic with parts partitions and wait for it, on an
// admin client of its own.
func setupTopic(topic string, parts int) {
	a := newAdmin()
	defer a.Close()
	createTopic(a, topic, parts, nil)
}

// waitPartitions: bounded wait until Metadata shows topic with parts partitions.
func waitPartitions(a sarama.ClusterAdmin, topic string, parts int) {
	deadline := time.Now().Add(*flagTimeout)
	for {
		md, err := a.DescribeTopics([]string{topic})
		if err == nil && len(md) == 1 && md[0].Err == sarama.ErrNoError && len(md[0].Partitions) == parts {
			return
		}
		if time.Now().After(deadline) {
			fail("topic %s not in metadata with %d partitions (err %v)", topic, parts, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func strp(s string) *string { return &s }

func acks() sarama.RequiredAcks {
	switch *flagAcks {
	case "all":
		return sarama.WaitForAll
	case "local":
		return sarama.WaitForLocal
	case "none":
		return sarama.NoResponse
	}
	fail("bad -acks %q", *flagAcks)
	return 0
}

func compression() sarama.CompressionCodec {
	switch *flagComp {
	case "none":
		return sarama.CompressionNone
	case "gzip":
		return sarama.CompressionGZIP
	case "snappy":
		return sarama.CompressionSnappy
	case "lz4":
		return sarama.CompressionLZ4
	case "zstd":
		return sarama.CompressionZSTD
	}
	fail("bad -compression %q", *flagComp)
	return 0
}

// ---------------------------------------------------------------- admin

func configMap(entries []sarama.ConfigEntry) map[string]obs {
	m := map[string]obs{}
	for _, e := range entries {
		m[e.Name] = obs{"value": e.Value, "default": e.Default, "read_only": e.ReadOnly, "sensitive": e.Sensitive}
	}
	return m
}

func describeConfig(a sarama.ClusterAdmin, topic string) (map[string]obs, error) {
	entries, err := a.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic})
	if err != nil {
		return nil, err
	}
	return configMap(entries), nil
}

func topicMeta(md *sarama.TopicMetadata) obs {
	var parts []obs
	for _, p := range md.Partitions {
		parts = append(parts, obs{"id": p.ID, "leader": p.Leader, "replicas": p.Replicas, "isr": p.Isr,
			"err": int(p.Err)})
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i]["id"].(int32) < parts[j]["id"].(int32) })
	return obs{"name": md.Name, "err": int(md.Err), "partitions": parts}
}

func cmdAdmin() obs {
	a := newAdmin()
	defer a.Close()
	t := *flagTopic
	o := obs{}

	// CreateTopic with configs; validate_only creates nothing
	err := a.CreateTopic(t, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": strp("3600000"), "max.message.bytes": strp("200000")}}, false)
	o["create_err"] = kerr(err)
	o["create_validate_only_err"] = kerr(a.CreateTopic(t+"-vo", &sarama.TopicDetail{NumPartitions: 2,
		ReplicationFactor: 1}, true))
	waitPartitions(a, t, 3)
	o["create_again_err"] = kerr(a.CreateTopic(t, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false))
	o["create_zero_partitions_err"] = kerr(a.CreateTopic(t+"-zero", &sarama.TopicDetail{NumPartitions: 0,
		ReplicationFactor: 1}, false))
	o["create_bad_config_err"] = kerr(a.CreateTopic(t+"-badcfg", &sarama.TopicDetail{NumPartitions: 1,
		ReplicationFactor: 1, ConfigEntries: map[string]*string{"retention.ms": strp("soon")}}, false))

	// ListTopics: partition count, replication factor and the non-default configs
	lt, err := a.ListTopics()
	must(err, "ListTopics")
	listed := obs{}
	for _, name := range []string{t, t + "-vo", t + "-zero", t + "-badcfg"} {
		d, ok := lt[name]
		if !ok {
			continue
		}
		cfg := map[string]string{}
		for k, v := range d.ConfigEntries {
			if v != nil {
				cfg[k] = *v
			}
		}
		listed[name] = obs{"partitions": d.NumPartitions, "replication_factor": d.ReplicationFactor,
			"replica_assignment": d.ReplicaAssignment, "configs": cfg}
	}
	o["list_topics"] = listed

	// DescribeTopics: leader, replicas, ISR per partition; an unknown topic
	md, err := a.DescribeTopics([]string{t, t + "-missing"})
	must(err, "DescribeTopics")
	var mds []obs
	for _, m := range md {
		mds = append(mds, topicMeta(m))
	}
	o["describe_topics"] = mds
	brokersSeen, controller, err := a.DescribeCluster()
	must(err, "DescribeCluster")
	var bl []obs
	for _, b := range brokersSeen {
		bl = append(bl, obs{"id": b.ID(), "addr": b.Addr()})
	}
	o["cluster"] = obs{"brokers": bl, "controller": controller}

	// DescribeConfig, AlterConfig (replaces the whole set: max.message.bytes
	// goes back to its default), validate_only, an invalid value
	o["configs_created"], err = describeConfig(a, t)
	must(err, "DescribeConfig")
	o["alter_err"] = errText(a.AlterConfig(sarama.TopicResource, t,
		map[string]*string{"retention.ms": strp("7200000"), "cleanup.policy": strp("compact")}, false))
	o["configs_altered"], err = describeConfig(a, t)
	must(err, "DescribeConfig after AlterConfig")
	o["alter_validate_only_err"] = errText(a.AlterConfig(sarama.TopicResource, t,
		map[string]*string{"retention.ms": strp("1000")}, true))
	o["alter_invalid_err"] = errText(a.AlterConfig(sarama.TopicResource, t,
		map[string]*string{"retention.ms": strp("soon")}, false))
	o["alter_unknown_topic_err"] = errText(a.AlterConfig(sarama.TopicResource, t+"-missing",
		map[string]*string{"retention.ms": strp("1000")}, false))
	o["configs_after_failed_alters"], err = describeConfig(a, t)
	must(err, "DescribeConfig after failed alters")
	_, err = describeConfig(a, t+"-missing")
	o["describe_config_unknown_err"] = errText(err)
	// back to delete so keyless records are accepted below
	must(a.AlterConfig(sarama.TopicResource, t, map[string]*string{"cleanup.policy": strp("delete")}, false),
		"AlterConfig cleanup.policy=delete")

	// CreatePartitions: grow to 5, shrinking is refused. Sarama sends it only
	// with Version >= 1.0 (else ErrUnsupportedVersion, 35, without a request);
	// Sarama 1.22 drops its validateOnly argument, so that is not tried here.
	err = a.CreatePartitions(t, 5, nil, false)
	o["create_partitions_err"] = kerr(err)
	if err == nil {
		waitPartitions(a, t, 5)
	}
	o["create_partitions_shrink_err"] = kerr(a.CreatePartitions(t, 2, nil, false))
	md, err = a.DescribeTopics([]string{t})
	must(err, "DescribeTopics after CreatePartitions")
	o["partitions_after"] = len(md[0].Partitions)

	// DeleteRecords: 10 records in partitions 0 and 1; cut p0 at 4 and p1 at
	// the high watermark (-1); Sarama drops per-partition errors, so the
	// result is read back with ListOffsets and a consumer
	prodCfg := config()
	prodCfg.Producer.Partitioner = sarama.NewManualPartitioner
	client, err := sarama.NewClient(brokers(), prodCfg)
	must(err, "NewClient")
	defer client.Close()
	prod, err := sarama.NewSyncProducerFromClient(client)
	must(err, "NewSyncProducer")
	for p := int32(0); p < 2; p++ {
		for i := 0; i < 10; i++ {
			m := makeMsg(t, i, p, fmt.Sprintf("dr%d", p))
			m.Partition = p
			_, _, err := prod.SendMessage(m)
			must(err, "SendMessage")
		}
	}
	must(prod.Close(), "producer close")
	o["delete_records_err"] = errText(a.DeleteRecords(t, map[int32]int64{0: 4, 1: -1}))
	must(client.RefreshMetadata(t), "RefreshMetadata")
	lw := obs{}
	for p := int32(0); p < 2; p++ {
		oldest, err := client.GetOffset(t, p, sarama.OffsetOldest)
		must(err, "GetOffset oldest")
		newest, err := client.GetOffset(t, p, sarama.OffsetNewest)
		must(err, "GetOffset newest")
		lw[fmt.Sprint(p)] = obs{"oldest": oldest, "newest": newest}
	}
	o["after_delete_records"] = lw
	cons, err := sarama.NewConsumerFromClient(client)
	must(err, "NewConsumer")
	got, _, err := readPartition(cons, t, 0, sarama.OffsetOldest, 6)
	must(err, "read p0 after DeleteRecords")
	var firstOffs []int64
	var vals []string
	for _, r := range got {
		firstOffs = append(firstOffs, r.Offset)
		vals = append(vals, r.Value)
	}
	o["p0_after_delete_records"] = obs{"offsets": firstOffs, "values": vals}
	must(cons.Close(), "consumer close")

	// DeleteTopic; deleting again is UNKNOWN_TOPIC_OR_PARTITION
	o["delete_err"] = kerr(a.DeleteTopic(t))
	deadline := time.Now().Add(*flagTimeout)
	for {
		lt, err := a.ListTopics()
		must(err, "ListTopics after delete")
		if _, ok := lt[t]; !ok {
			break
		}
		if time.Now().After(deadline) {
			fail("deleted topic %s still listed", t)
		}
		time.Sleep(100 * time.Millisecond)
	}
	o["delete_again_err"] = kerr(a.DeleteTopic(t))
	return o
}

// ---------------------------------------------------------------- produce

// cmdRoundtrip: SyncProducer (-acks, -compression) sends -n records with
// keys, headers and timestamps to -partitions partitions (one SendMessage
// each for the first half, one SendMessages batch for the rest), then a
// partition consumer reads every partition from the oldest offset.
func cmdRoundtrip() obs {
	t := *flagTopic
	setupTopic(t, *flagParts)

	cfg := config()
	cfg.Producer.RequiredAcks = acks()
	cfg.Producer.Compression = compression()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(brokers(), cfg)
	must(err, "NewSyncProducer")
	o := obs{}
	var sent []rec
	half := *flagN / 2
	for i := 0; i < half; i++ {
		m := makeMsg(t, i, int32(i%*flagParts), "rt")
		_, _, err := prod.SendMessage(m)
		if err != nil {
			must(prod.Close(), "producer close")
			o["send_err"] = errText(err)
			o["send_err_code"] = kerr(err)
			o["sent_before_error"] = i
			return o
		}
		sent = append(sent, fromProducer(m))
	}
	var batch []*sarama.ProducerMessage
	for i := half; i < *flagN; i++ {
		batch = append(batch, makeMsg(t, i, int32(i%*flagParts), "rt"))
	}
	if err := prod.SendMessages(batch); err != nil {
		o["send_err"] = errText(err)
		o["send_err_code"] = kerr(err)
		return o
	}
	for _, m := range batch {
		sent = append(sent, fromProducer(m))
	}
	must(prod.Close(), "producer close")
	o["sent"] = sent

	c, err := sarama.NewConsumer(brokers(), config())
	must(err, "NewConsumer")
	defer c.Close()
	var got []rec
	var extra []rec
	for p := 0; p < *flagParts; p++ {
		want := 0
		for _, s := range sent {
			if s.Partition == int32(p) {
				want++
			}
		}
		r, x, err := readPartition(c, t, int32(p), sarama.OffsetOldest, want)
		must(err, "read back")
		got = append(got, r...)
		extra = append(extra, x...)
	}
	o["received"] = got
	o["extra"] = extra
	return o
}

// cmdZstdOld: Sarama 1.22 sends zstd in Produce v3 (it never raises the
// version to 7); Kafka refuses that with UNSUPPORTED_COMPRESSION_TYPE.
// Reports the error and the high watermark afterwards.
func cmdZstdOld() obs {
	t := *flagTopic
	setupTopic(t, 1)
	cfg := config()
	cfg.Producer.Compression = sarama.CompressionZSTD
	cfg.Producer.Retry.Max = 0
	prod, err := sarama.NewSyncProducer(brokers(), cfg)
	must(err, "NewSyncProducer")
	_, _, err = prod.SendMessage(makeMsg(t, 1, 0, "zstd"))
	prod.Close()
	o := obs{"send_err_code": kerr(err), "send_err": errText(err)}
	client, err := sarama.NewClient(brokers(), config())
	must(err, "NewClient")
	defer client.Close()
	hw, err := client.GetOffset(t, 0, sarama.OffsetNewest)
	must(err, "GetOffset")
	o["high_watermark"] = hw
	return o
}

// cmdAsync: AsyncProducer sends -n records round-robin over -partitions
// partitions; every success's offset is recorded; then every partition is
// read back and each record compared with what was acknowledged at its offset.
func cmdAsync(idempotent bool) obs {
	t := *flagTopic
	setupTopic(t, *flagParts)

	cfg := config()
	cfg.Producer.RequiredAcks = acks()
	cfg.Producer.Compression = compression()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.Flush.Messages = 50
	cfg.Producer.Flush.Frequency = 2 * time.Millisecond
	if idempotent {
		cfg.Producer.Idempotent = true
		cfg.Producer.RequiredAcks = sarama.WaitForAll
		cfg.Net.MaxOpenRequests = 1
		cfg.Producer.Retry.Max = 5
	}
	o := obs{}
	acked := map[int32]map[int64]rec{}
	var failures []string
	dupOffsets := 0
	// two sessions: each a new producer (a new producer id when idempotent)
	for session := 0; session < 2; session++ {
		prod, err := sarama.NewAsyncProducer(brokers(), cfg)
		must(err, "NewAsyncProducer")
		var wg sync.WaitGroup
		var mu sync.Mutex
		wg.Add(2)
		go func() {
			defer wg.Done()
			for m := range prod.Successes() {
				r := fromProducer(m)
				mu.Lock()
				if acked[r.Partition] == nil {
					acked[r.Partition] = map[int64]rec{}
				}
				if _, dup := acked[r.Partition][r.Offset]; dup {
					dupOffsets++
				}
				acked[r.Partition][r.Offset] = r
				mu.Unlock()
			}
		}()
		go func() {
			defer wg.Done()
			for e := range prod.Errors() {
				mu.Lock()
				failures = append(failures, e.Error())
				mu.Unlock()
			}
		}()
		per := *flagN / 2
		for i := session * per; i < (session+1)*per; i++ {
			prod.Input() <- makeMsg(t, i, int32(i%*flagParts), "as")
		}
		prod.AsyncClose()
		wg.Wait()
	}
	o["failures"] = failures
	o["duplicate_offsets"] = dupOffsets
	ackedN := 0
	perPart := map[string]obs{}
	var mismatches []string
	c, err := sarama.NewConsumer(brokers(), config())
	must(err, "NewConsumer")
	defer c.Close()
	readN := 0
	for p := int32(0); p < int32(*flagParts); p++ {
		offs := make([]int64, 0, len(acked[p]))
		for off := range acked[p] {
			offs = append(offs, off)
		}
		sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
		ackedN += len(offs)
		contiguous := true
		for i, off := range offs {
			if off != int64(i) {
				contiguous = false
				break
			}
		}
		// send order within the partition: values carry the send index
		inOrder := true
		for i := 1; i < len(offs); i++ {
			if acked[p][offs[i]].Value < acked[p][offs[i-1]].Value {
				inOrder = false
			}
		}
		got, extra, err := readPartition(c, t, p, sarama.OffsetOldest, len(offs))
		must(err, "read back")
		readN += len(got)
		for _, r := range got {
			want, ok := acked[p][r.Offset]
			if !ok {
				mismatches = append(mismatches, fmt.Sprintf("p%d@%d: record never acknowledged: %q", p, r.Offset, r.Value))
			} else if !sameRec(want, r) {
				mismatches = append(mismatches, fmt.Sprintf("p%d@%d: acknowledged %+v, read %+v", p, r.Offset, want, r))
			}
		}
		for _, r := range extra {
			mismatches = append(mismatches, fmt.Sprintf("p%d@%d: extra record %q", p, r.Offset, r.Value))
		}
		perPart[fmt.Sprint(p)] = obs{"acked": len(offs), "contiguous_from_0": contiguous, "send_order": inOrder,
			"read": len(got)}
	}
	if len(mismatches) > 20 {
		mismatches = append(mismatches[:20], fmt.Sprintf("... %d more", len(mismatches)-20))
	}
	o["acked"] = ackedN
	o["read"] = readN
	o["partitions"] = perPart
	o["mismatches"] = mismatches
	return o
}

// ---------------------------------------------------------------- consumer

// cmdConsume: 40 records one request each, then 60 in one SendMessages
// (multi-record batches); timestamps baseTsMs + 10*i. GetOffset by time,
// oldest and newest; partition consumers from the oldest offset, from an
// offset inside a batch, from the newest (then one more record produced),
// and from an offset past the end.
func cmdConsume() obs {
	t := *flagTopic
	setupTopic(t, 1)
	cfg := config()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(brokers(), cfg)
	must(err, "NewSyncProducer")
	var sent []rec
	for i := 0; i < 40; i++ {
		m := makeMsg(t, i, 0, "co")
		_, _, err := prod.SendMessage(m)
		must(err, "SendMessage")
		sent = append(sent, fromProducer(m))
	}
	var batch []*sarama.ProducerMessage
	for i := 40; i < 100; i++ {
		batch = append(batch, makeMsg(t, i, 0, "co"))
	}
	must(prod.SendMessages(batch), "SendMessages")
	for _, m := range batch {
		sent = append(sent, fromProducer(m))
	}

	client, err := sarama.NewClient(brokers(), config())
	must(err, "NewClient")
	defer client.Close()
	o := obs{"sent": sent}
	offs := obs{}
	for name, ts := range map[string]int64{
		"oldest": sarama.OffsetOldest, "newest": sarama.OffsetNewest,
		"ts_first": baseTsMs, "ts_before_first": baseTsMs - 5000, "ts_10": baseTsMs + 100,
		"ts_between_10_11": baseTsMs + 105, "ts_70": baseTsMs + 700, "ts_last": baseTsMs + 990,
		"ts_after_last": baseTsMs + 991,
	} {
		off, err := client.GetOffset(t, 0, ts)
		if err != nil {
			offs[name] = obs{"err": kerr(err)}
		} else {
			offs[name] = off
		}
	}
	o["get_offset"] = offs

	c, err := sarama.NewConsumerFromClient(client)
	must(err, "NewConsumer")
	defer c.Close()
	all, extra, err := readPartition(c, t, 0, sarama.OffsetOldest, 100)
	must(err, "read from oldest")
	o["from_oldest"] = all
	o["from_oldest_extra"] = extra
	mid, extra, err := readPartition(c, t, 0, 73, 27)
	must(err, "read from 73")
	o["from_73"] = mid
	o["from_73_extra"] = extra

	// from the newest offset: only what is produced afterwards
	pc, err := c.ConsumePartition(t, 0, sarama.OffsetNewest)
	must(err, "ConsumePartition newest")
	m := makeMsg(t, 100, 0, "co-late")
	_, _, err = prod.SendMessage(m)
	must(err, "SendMessage late")
	select {
	case got := <-pc.Messages():
		o["from_newest"] = fromConsumer(got)
		o["late_sent"] = fromProducer(m)
	case e := <-pc.Errors():
		fail("consume from newest: %v", e)
	case <-time.After(*flagTimeout):
		fail("nothing read from the newest offset")
	}
	pc.Close()
	must(prod.Close(), "producer close")

	_, err = c.ConsumePartition(t, 0, 5000)
	o["past_end_err"] = kerr(err)
	return o
}

// ---------------------------------------------------------------- groups

type member struct {
	name string
	mu   sync.Mutex
	// claims of the current session and every record handed to the member
	claims   map[string][]int32
	sessions int
	seen     []rec
}

func (h *member) Setup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	h.claims = s.Claims()
	h.sessions++
	h.mu.Unlock()
	return nil
}

func (h *member) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *member) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock()
		h.seen = append(h.seen, fromConsumer(m))
		h.mu.Unlock()
		// the next offset to read, as Kafka's committed offsets mean
		s.MarkOffset(m.Topic, m.Partition, m.Offset+1, "by-"+h.name)
	}
	return nil
}

func (h *member) seenCopy() []rec {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]rec(nil), h.seen...)
}

func (h *member) snapshot() (map[string][]int32, int, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.claims, h.sessions, len(h.seen)
}

type runningMember struct {
	h      *member
	g      sarama.ConsumerGroup
	cancel context.CancelFunc
	done   chan error
	errs   []string
	emu    sync.Mutex
}

func startMember(name, group, topic string) *runningMember {
	cfg := config()
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.CommitInterval = 200 * time.Millisecond
	cfg.Consumer.Group.Session.Timeout = 10 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cfg.Consumer.Group.Rebalance.Strategy = sarama.BalanceStrategyRange
	g, err := sarama.NewConsumerGroup(brokers(), group, cfg)
	must(err, "NewConsumerGroup")
	ctx, cancel := context.WithCancel(context.Background())
	rm := &runningMember{h: &member{name: name}, g: g, cancel: cancel,
		done: make(chan error, 1)}
	go func() {
		for e := range g.Errors() {
			rm.emu.Lock()
			rm.errs = append(rm.errs, e.Error())
			rm.emu.Unlock()
		}
	}()
	go func() {
		var err error
		for ctx.Err() == nil {
			// Consume returns at every rebalance; call it again
			if err = g.Consume(ctx, []string{topic}, rm.h); err != nil {
				break
			}
		}
		rm.done <- err
	}()
	return rm
}

// stop ends the member's session (its marked offsets are committed by
// Close) and reports the error Consume ended with.
func (rm *runningMember) stop() string {
	rm.cancel()
	var err error
	select {
	case err = <-rm.done:
	case <-time.After(*flagTimeout):
		fail("member %s did not leave its session", rm.h.name)
	}
	if cerr := rm.g.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return errText(err)
}

func groupProducer(t string, parts int) (func(from, to int, tag string) []rec, func()) {
	cfg := config()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	prod, err := sarama.NewSyncProducer(brokers(), cfg)
	must(err, "NewSyncProducer")
	produce := func(from, to int, tag string) []rec {
		var batch []*sarama.ProducerMessage
		for i := from; i < to; i++ {
			batch = append(batch, makeMsg(t, i, int32(i%parts), tag))
		}
		must(prod.SendMessages(batch), "SendMessages")
		var out []rec
		for _, m := range batch {
			out = append(out, fromProducer(m))
		}
		return out
	}
	return produce, func() { must(prod.Close(), "producer close") }
}

// committedOffsets: the group's committed offset, metadata and error per
// partition of t (OffsetFetch through the admin client).
func committedOffsets(a sarama.ClusterAdmin, g, t string, parts int) obs {
	ps := make([]int32, parts)
	for i := range ps {
		ps[i] = int32(i)
	}
	resp, err := a.ListConsumerGroupOffsets(g, map[string][]int32{t: ps})
	must(err, "ListConsumerGroupOffsets")
	out := obs{}
	for p := int32(0); p < int32(parts); p++ {
		b := resp.GetBlock(t, p)
		if b == nil {
			out[fmt.Sprint(p)] = nil
		} else {
			out[fmt.Sprint(p)] = obs{"offset": b.Offset, "metadata": b.Metadata, "err": int(b.Err)}
		}
	}
	return out
}

// waitSeen: bounded wait until the members together were handed n records,
// then a short quiet period, so duplicates (if any) show.
func waitSeen(n int, ms ...*runningMember) {
	deadline := time.Now().Add(*flagTimeout)
	for {
		total := 0
		for _, m := range ms {
			_, _, k := m.h.snapshot()
			total += k
		}
		if total >= n {
			break
		}
		if time.Now().After(deadline) {
			var errs []string
			for _, m := range ms {
				errs = append(errs, m.errs...)
			}
			fail("the group's members consumed %d of %d records (errors %v)", total, n, errs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
}

// describeGroup: DescribeGroups of g as Sarama decodes it: state,
// protocol, and per member its client id, subscribed topics (from the
// member metadata) and assigned partitions of t (from the assignment).
func describeGroup(a sarama.ClusterAdmin, g, t string) obs {
	ds, err := a.DescribeConsumerGroups([]string{g})
	must(err, "DescribeConsumerGroups")
	if len(ds) != 1 {
		fail("DescribeConsumerGroups returned %d groups", len(ds))
	}
	d := ds[0]
	var members []obs
	for id, m := range d.Members {
		md, err := m.GetMemberMetadata()
		must(err, "member metadata of "+id)
		as, err := m.GetMemberAssignment()
		must(err, "member assignment of "+id)
		ps := append([]int32(nil), as.Topics[t]...)
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		members = append(members, obs{"client_id": m.ClientId, "topics": md.Topics, "assigned": ps,
			"host_set": m.ClientHost != ""})
	}
	return obs{"err": int(d.Err), "state": d.State, "protocol_type": d.ProtocolType, "protocol": d.Protocol,
		"members": members}
}

// cmdGroupFirst: creates a -partitions topic; two members of -group share it
// (range assignor); once both hold claims, -n records are produced; every
// record is consumed and its offset marked (MarkOffset, metadata naming the
// member); both close, which commits. Reports the claims, what each member
// was handed, and the committed offsets (OffsetFetch).
func cmdGroupFirst() obs {
	t, g := *flagTopic, *flagGroup
	parts := *flagParts
	a := newAdmin()
	defer a.Close()
	createTopic(a, t, parts, nil)
	o := obs{"topic": t}

	m1 := startMember("m1", g, t)
	m2 := startMember("m2", g, t)
	// bounded wait for one generation in which both members hold claims
	deadline := time.Now().Add(*flagTimeout)
	for {
		c1, _, _ := m1.h.snapshot()
		c2, _, _ := m2.h.snapshot()
		if len(c1[t]) > 0 && len(c2[t]) > 0 && len(c1[t])+len(c2[t]) == parts {
			break
		}
		if time.Now().After(deadline) {
			fail("two members never both held claims: m1 %v m2 %v errors %v %v", c1, c2, m1.errs, m2.errs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	c1, s1, _ := m1.h.snapshot()
	c2, s2, _ := m2.h.snapshot()
	o["claims"] = obs{"m1": c1[t], "m2": c2[t]}

	produce, closeProd := groupProducer(t, parts)
	o["sent"] = produce(0, *flagN, "g1")
	closeProd()
	waitSeen(*flagN, m1, m2)
	_, s1b, _ := m1.h.snapshot()
	_, s2b, _ := m2.h.snapshot()
	o["rebalanced_during_consume"] = s1b != s1 || s2b != s2
	o["describe_group"] = describeGroup(a, g, t)
	o["m1_seen"] = m1.h.seenCopy()
	o["m2_seen"] = m2.h.seenCopy()
	o["m1_stop_err"] = m1.stop()
	o["m2_stop_err"] = m2.stop()
	o["member_errors"] = append(m1.errs, m2.errs...)
	o["committed"] = committedOffsets(a, g, t, parts)
	groups, err := a.ListConsumerGroups()
	must(err, "ListConsumerGroups")
	o["listed_group_protocol_type"] = groups[g]
	return o
}

// cmdGroupResume: -n more records on the topic of cmdGroupFirst (records
// -n .. 2n-1); a new member of the same group must start at the committed
// offsets. Reports what it was handed and the committed offsets after it
// closed.
func cmdGroupResume() obs {
	t, g := *flagTopic, *flagGroup
	parts := *flagParts
	a := newAdmin()
	defer a.Close()
	o := obs{"committed_before": committedOffsets(a, g, t, parts)}
	produce, closeProd := groupProducer(t, parts)
	o["sent"] = produce(*flagN, 2**flagN, "g2")
	closeProd()
	m3 := startMember("m3", g, t)
	waitSeen(*flagN, m3)
	c3, _, _ := m3.h.snapshot()
	o["claims"] = c3[t]
	o["seen"] = m3.h.seenCopy()
	o["stop_err"] = m3.stop()
	o["member_errors"] = m3.errs
	o["committed"] = committedOffsets(a, g, t, parts)
	return o
}

func main() {
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: saramacheck [flags] admin|roundtrip|zstd-old|async|idempotent|consume|group-first|group-resume\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *flagVerbose {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.LstdFlags|log.Lmicroseconds)
	}
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	var o obs
	switch flag.Arg(0) {
	case "admin":
		o = cmdAdmin()
	case "roundtrip":
		o = cmdRoundtrip()
	case "zstd-old":
		o = cmdZstdOld()
	case "async":
		o = cmdAsync(false)
	case "idempotent":
		o = cmdAsync(true)
	case "consume":
		o = cmdConsume()
	case "group-first":
		o = cmdGroupFirst()
	case "group-resume":
		o = cmdGroupResume()
	default:
		flag.Usage()
		os.Exit(2)
	}
	out, err := json.Marshal(o)
	must(err, "json")
	fmt.Println(string(out))
}
