// Command franz-perf is a producer benchmark driver on franz-go (pkg/kgo) that takes the flags
// of Klamm's perf example and prints its summary line, so the two can be compared run for run.
//
//	franz-perf --bootstrap 127.0.0.1:9092 --topic perf --num-records 1000000 --record-size 100 \
//	    --throughput -1 --acks all --compression none --linger-ms 5 --batch-size 16384 \
//	    --idempotence true
//
// Settings map onto kgo options as follows: --acks to RequiredAcks, --linger-ms to
// ProducerLinger, --batch-size to ProducerBatchMaxBytes (kgo's per-partition batch cap, the
// counterpart of the Java client's batch.size), --compression to ProducerBatchCompression
// (kgo's default would be snappy) and --idempotence false to DisableIdempotentWrite. Topic
// auto-creation is allowed as the other clients allow it. The partitioner and the record
// buffer (MaxBufferedRecords) keep kgo's defaults.
package main

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"klamm.invalid/peers/goperf"
)

// batchStats counts the batches the brokers accepted, through kgo's produce hook.
type batchStats struct {
	batches      atomic.Int64
	records      atomic.Int64
	uncompressed atomic.Int64
	compressed   atomic.Int64
}

// OnProduceBatchWritten implements kgo.HookProduceBatchWritten.
func (s *batchStats) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	s.batches.Add(1)
	s.records.Add(int64(m.NumRecords))
	s.uncompressed.Add(int64(m.UncompressedBytes))
	s.compressed.Add(int64(m.CompressedBytes))
}

func codec(name string) kgo.CompressionCodec {
	switch name {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	default:
		return kgo.NoCompression()
	}
}

func acks(name string) kgo.Acks {
	switch name {
	case "1":
		return kgo.LeaderAck()
	case "0":
		return kgo.NoAck()
	default:
		return kgo.AllISRAcks()
	}
}

func main() {
	o, err := goperf.Parse(os.Args[1:])
	if err != nil {
		goperf.Fail("franz-perf", err.Error())
	}
	batchMax := o.BatchSize
	if batchMax < 512 {
		// kgo refuses batch caps below 512 bytes.
		batchMax = 512
	}
	stats := &batchStats{}
	opts := []kgo.Opt{
		kgo.SeedBrokers(o.Bootstrap...),
		kgo.DefaultProduceTopic(o.Topic),
		kgo.RequiredAcks(acks(o.Acks)),
		kgo.ProducerLinger(o.Linger),
		kgo.ProducerBatchMaxBytes(int32(batchMax)),
		kgo.ProducerBatchCompression(codec(o.Compression)),
		kgo.WithHooks(stats),
		// The Java producer (allow.auto.create.topics) and sarama ask the broker to create a
		// missing topic; kgo does not unless told, and would fail every record instead.
		kgo.AllowAutoTopicCreation(),
	}
	if !o.Idempotence {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		goperf.Fail("franz-perf", err.Error())
	}

	payload := goperf.Payload(o.RecordSize)
	rec := goperf.NewRecorder(o.NumRecords, o.RecordSize)
	ctx := context.Background()
	start := time.Now()
	for i := int64(0); i < o.NumRecords; i++ {
		goperf.Pace(start, i, o.Throughput)
		sent := time.Now()
		// Produce blocks while kgo's buffer is full; the promise runs once the record is
		// acknowledged or has failed for good.
		cl.Produce(ctx, &kgo.Record{Value: payload}, func(_ *kgo.Record, err error) {
			rec.Done(sent, err)
		})
	}
	if err := cl.Flush(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "flush: %v\n", err)
	}
	elapsed := time.Since(start)
	cl.Close()

	fmt.Println(rec.Summary(elapsed))
	batches := stats.batches.Load()
	avg, ratio := int64(0), 1.0
	if batches > 0 {
		avg = stats.compressed.Load() / batches
	}
	if c := stats.compressed.Load(); c > 0 {
		ratio = float64(stats.uncompressed.Load()) / float64(c)
	}
	fmt.Printf("%d errors; %d batches, %d bytes avg per batch, %.2f compression ratio.\n",
		rec.Errors(), batches, avg, ratio)
	if rec.Errors() > 0 || rec.Completed() != o.NumRecords {
		os.Exit(1)
	}
}
