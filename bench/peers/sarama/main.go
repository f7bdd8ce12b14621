// Command sarama-perf is a producer benchmark driver on IBM/sarama's AsyncProducer that takes
// the flags of Klamm's perf example and prints its summary line, so the two can be compared
// run for run.
//
//	sarama-perf --bootstrap 127.0.0.1:9092 --topic perf --num-records 1000000 --record-size 100 \
//	    --throughput -1 --acks all --compression none --linger-ms 5 --batch-size 16384 \
//	    --idempotence true
//
// Settings map onto sarama's Config as follows: --acks to Producer.RequiredAcks, --linger-ms
// to Producer.Flush.Frequency, --batch-size to Producer.Flush.Bytes (sarama counts it per
// broker request, across partitions, where the Java client counts batch.size per partition),
// --compression to Producer.Compression. With --linger-ms 0 both flush triggers stay 0, which
// sarama reads as "send as soon as possible". --idempotence true sets Producer.Idempotent and
// the settings sarama demands with it: Net.MaxOpenRequests = 1 (one request in flight per
// broker, where the Java client allows 5), RequiredAcks = WaitForAll, Retry.Max >= 1 and a
// protocol Version >= 0.11. The Version is set to Kafka 4.1, the release tested against.
// The partitioner keeps sarama's default (hash of the key, so random for these keyless
// records).
package main

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/rcrowley/go-metrics"
	"klamm.invalid/peers/goperf"
)

func codec(name string) sarama.CompressionCodec {
	switch name {
	case "gzip":
		return sarama.CompressionGZIP
	case "snappy":
		return sarama.CompressionSnappy
	case "lz4":
		return sarama.CompressionLZ4
	case "zstd":
		return sarama.CompressionZSTD
	default:
		return sarama.CompressionNone
	}
}

func acks(name string) sarama.RequiredAcks {
	switch name {
	case "1":
		return sarama.WaitForLocal
	case "0":
		return sarama.NoResponse
	default:
		return sarama.WaitForAll
	}
}

// keptRegistry is a metrics registry that ignores unregistering: sarama drops its broker and
// producer metrics on close, and the summary reads them after the close has flushed.
type keptRegistry struct{ metrics.Registry }

// Unregister keeps the metric.
func (keptRegistry) Unregister(string) {}

// UnregisterAll keeps every metric.
func (keptRegistry) UnregisterAll() {}

func config(o goperf.Options) *sarama.Config {
	c := sarama.NewConfig()
	c.MetricRegistry = keptRegistry{metrics.NewRegistry()}
	c.ClientID = "sarama-perf"
	c.Version = sarama.V4_1_0_0
	c.Producer.RequiredAcks = acks(o.Acks)
	c.Producer.Compression = codec(o.Compression)
	if o.Linger > 0 {
		c.Producer.Flush.Frequency = o.Linger
		c.Producer.Flush.Bytes = o.BatchSize
	}
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	if o.Idempotence {
		c.Producer.Idempotent = true
		c.Net.MaxOpenRequests = 1
		c.Producer.RequiredAcks = sarama.WaitForAll
		if c.Producer.Retry.Max < 1 {
			c.Producer.Retry.Max = 1
		}
	}
	return c
}

func main() {
	o, err := goperf.Parse(os.Args[1:])
	if err != nil {
		goperf.Fail("sarama-perf", err.Error())
	}
	cfg := config(o)
	p, err := sarama.NewAsyncProducer(o.Bootstrap, cfg)
	if err != nil {
		goperf.Fail("sarama-perf", err.Error())
	}

	rec := goperf.NewRecorder(o.NumRecords, o.RecordSize)
	// Each message carries its send time in Metadata; successes and errors come back on
	// their own channels, which must both be drained.
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for m := range p.Successes() {
			rec.Done(m.Metadata.(time.Time), nil)
		}
	}()
	go func() {
		defer wg.Done()
		for e := range p.Errors() {
			rec.Done(e.Msg.Metadata.(time.Time), e.Err)
		}
	}()

	value := sarama.ByteEncoder(goperf.Payload(o.RecordSize))
	start := time.Now()
	for i := int64(0); i < o.NumRecords; i++ {
		goperf.Pace(start, i, o.Throughput)
		p.Input() <- &sarama.ProducerMessage{Topic: o.Topic, Value: value, Metadata: time.Now()}
	}
	// AsyncClose flushes what is buffered, then closes both channels.
	p.AsyncClose()
	wg.Wait()
	elapsed := time.Since(start)

	fmt.Println(rec.Summary(elapsed))
	requests := metrics.GetOrRegisterMeter("request-rate", cfg.MetricRegistry).Count()
	batchAvg := 0.0
	if h, ok := cfg.MetricRegistry.Get("batch-size").(metrics.Histogram); ok {
		batchAvg = h.Mean()
	}
	fmt.Printf("%d errors; %d requests, %.0f bytes avg per batch (sampled).\n",
		rec.Errors(), requests, batchAvg)
	if rec.Errors() > 0 || rec.Completed() != o.NumRecords {
		os.Exit(1)
	}
}
