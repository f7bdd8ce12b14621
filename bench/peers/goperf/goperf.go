// Package goperf is what the Go peer drivers (franz-go, sarama) share: the command line of
// Klamm's perf example (producer/examples/perf.rs), the pacing of sends, the latency
// bookkeeping and the final summary line, printed in exactly the format perf.rs prints.
//
// Keeping this in one place means the drivers differ only in how they talk to their client
// library, so a difference in the numbers is a difference between the clients.
package goperf

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Options are the flags every peer driver accepts, with perf.rs's defaults.
type Options struct {
	// Bootstrap is the list of HOST:PORT seed brokers (required: there is no embedded cluster).
	Bootstrap []string
	// Topic to produce to.
	Topic string
	// NumRecords is how many records to send.
	NumRecords int64
	// RecordSize is the value size in bytes (records have no key).
	RecordSize int
	// Throughput is the target send rate in records per second; <= 0 means unlimited.
	Throughput float64
	// Acks is "all", "1" or "0".
	Acks string
	// Compression is none, gzip, snappy, lz4 or zstd.
	Compression string
	// Linger is how long a batch may wait for more records.
	Linger time.Duration
	// BatchSize is the batch size target in bytes.
	BatchSize int
	// Idempotence asks for the idempotent producer.
	Idempotence bool
}

// Usage is the one-line synopsis of the flags.
const Usage = "--bootstrap HOST:PORT[,..] [--topic T] [--num-records N] [--record-size BYTES] " +
	"[--throughput RECORDS_PER_SEC|-1] [--acks all|1|0] [--compression none|gzip|snappy|lz4|zstd] " +
	"[--linger-ms MS] [--batch-size BYTES] [--idempotence true|false]"

// Fail prints a problem and the usage line, then exits with status 2 (as perf.rs does).
func Fail(program, problem string) {
	fmt.Fprintf(os.Stderr, "error: %s\nusage: %s %s\n", problem, program, Usage)
	os.Exit(2)
}

// Parse reads perf.rs's flags: every flag takes exactly one value, given as the next argument
// (so `--throughput -1` and `--idempotence false` work as they do for perf.rs).
func Parse(args []string) (Options, error) {
	o := Options{
		Topic:       "perf",
		NumRecords:  1_000_000,
		RecordSize:  100,
		Throughput:  -1,
		Acks:        "all",
		Compression: "none",
		Linger:      5 * time.Millisecond,
		BatchSize:   16_384,
		Idempotence: true,
	}
	for i := 0; i < len(args); i += 2 {
		flag := args[i]
		if i+1 >= len(args) {
			return o, fmt.Errorf("%s needs a value", flag)
		}
		v := args[i+1]
		bad := func(err error) error { return fmt.Errorf("%s: cannot parse %q (%v)", flag, v, err) }
		switch flag {
		case "--bootstrap":
			o.Bootstrap = strings.Split(v, ",")
		case "--topic":
			o.Topic = v
		case "--num-records":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 0 {
				return o, bad(err)
			}
			o.NumRecords = n
		case "--record-size":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return o, bad(err)
			}
			o.RecordSize = n
		case "--throughput":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return o, bad(err)
			}
			o.Throughput = f
		case "--acks":
			switch v {
			case "all", "-1":
				o.Acks = "all"
			case "1", "0":
				o.Acks = v
			default:
				return o, fmt.Errorf("--acks: %q is not all, 1 or 0", v)
			}
		case "--compression":
			switch v {
			case "none", "gzip", "snappy", "lz4", "zstd":
				o.Compression = v
			default:
				return o, fmt.Errorf("--compression: %q is not none, gzip, snappy, lz4 or zstd", v)
			}
		case "--linger-ms":
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return o, bad(err)
			}
			o.Linger = time.Duration(n) * time.Millisecond
		case "--batch-size":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return o, bad(err)
			}
			o.BatchSize = n
		case "--idempotence":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return o, bad(err)
			}
			o.Idempotence = b
		default:
			return o, fmt.Errorf("unknown option %s", flag)
		}
	}
	if len(o.Bootstrap) == 0 || o.Bootstrap[0] == "" {
		return o, fmt.Errorf("--bootstrap is required")
	}
	if o.Idempotence && o.Acks != "all" {
		// The Java client refuses this combination too (enable.idempotence needs acks=all).
		return o, fmt.Errorf("--idempotence true needs --acks all (got --acks %s)", o.Acks)
	}
	return o, nil
}

// Payload is the record value perf.rs sends: the alphabet repeated to the record size.
func Payload(size int) []byte {
	p := make([]byte, size)
	for i := range p {
		p[i] = 'A' + byte(i%26)
	}
	return p
}

// Pace sleeps until record i is due when a throughput limit is set.
func Pace(start time.Time, i int64, throughput float64) {
	if throughput <= 0 {
		return
	}
	due := start.Add(time.Duration(float64(i) / throughput * float64(time.Second)))
	if d := time.Until(due); d > 0 {
		time.Sleep(d)
	}
}

// Recorder collects the send-to-ack latency of every record. Done may be called from any
// goroutine: each completion takes its own slot through an atomic counter.
type Recorder struct {
	latUs      []uint32
	done       atomic.Int64
	errors     atomic.Int64
	recordSize int
	stop       chan struct{}
}

// NewRecorder makes room for n latencies and starts a progress line on stderr every 5 s.
func NewRecorder(n int64, recordSize int) *Recorder {
	r := &Recorder{latUs: make([]uint32, n), recordSize: recordSize, stop: make(chan struct{})}
	go r.progress()
	return r
}

// Done records the completion of a record sent at sent; err is its delivery error, if any.
// Only the first few errors are printed, the rest are counted.
func (r *Recorder) Done(sent time.Time, err error) {
	us := time.Since(sent).Microseconds()
	if us > int64(^uint32(0)) {
		us = int64(^uint32(0))
	}
	i := r.done.Add(1) - 1
	if i < int64(len(r.latUs)) {
		r.latUs[i] = uint32(us)
	}
	if err != nil {
		if r.errors.Add(1) <= 10 {
			fmt.Fprintf(os.Stderr, "delivery failed: %v\n", err)
		}
	}
}

// Errors is the number of failed records so far.
func (r *Recorder) Errors() int64 { return r.errors.Load() }

// Completed is the number of records acknowledged or failed so far.
func (r *Recorder) Completed() int64 { return r.done.Load() }

func (r *Recorder) progress() {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	last, lastAt := int64(0), time.Now()
	for {
		select {
		case <-r.stop:
			return
		case now := <-t.C:
			n := r.done.Load()
			rate := float64(n-last) / now.Sub(lastAt).Seconds()
			fmt.Fprintf(os.Stderr, "%d records sent, %.1f records/sec (%.2f MB/sec).\n",
				n-last, rate, rate*float64(r.recordSize)/(1024*1024))
			last, lastAt = n, now
		}
	}
}

// Summary stops the progress line and returns perf.rs's final line for a run that took
// elapsed. Call it once every record has completed.
func (r *Recorder) Summary(elapsed time.Duration) string {
	close(r.stop)
	n := r.done.Load()
	if n > int64(len(r.latUs)) {
		n = int64(len(r.latUs))
	}
	l := append([]uint32(nil), r.latUs[:n]...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	pct := func(p float64) float64 {
		if len(l) == 0 {
			return 0
		}
		i := int(float64(len(l)) * p)
		if i > len(l)-1 {
			i = len(l) - 1
		}
		return float64(l[i]) / 1000
	}
	sum := 0.0
	for _, us := range l {
		sum += float64(us)
	}
	avg := sum / max(float64(len(l)), 1) / 1000
	rate := float64(len(l)) / elapsed.Seconds()
	return fmt.Sprintf("%d records sent, %.1f records/sec (%.2f MB/sec), %.2f ms avg latency, "+
		"%.2f ms max latency, %.2f ms 50th, %.2f ms 95th, %.2f ms 99th, %.2f ms 99.9th.",
		len(l), rate, rate*float64(r.recordSize)/(1024*1024), avg, pct(1.0),
		pct(0.5), pct(0.95), pct(0.99), pct(0.999))
}
