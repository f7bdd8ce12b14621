package goperf

import (
	"strings"
	"testing"
	"time"
)

func TestParseTakesPerfFlags(t *testing.T) {
	o, err := Parse(strings.Fields("--bootstrap a:1,b:2 --topic t --num-records 7 --record-size 3 " +
		"--throughput -1 --acks all --compression zstd --linger-ms 0 --batch-size 100 --idempotence false"))
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Bootstrap) != 2 || o.Topic != "t" || o.NumRecords != 7 || o.RecordSize != 3 ||
		o.Throughput != -1 || o.Compression != "zstd" || o.Linger != 0 || o.BatchSize != 100 || o.Idempotence {
		t.Fatalf("parsed %+v", o)
	}
	if _, err := Parse(strings.Fields("--bootstrap a:1 --acks 1")); err == nil {
		t.Fatal("idempotence (the default) with acks 1 must be refused")
	}
	if _, err := Parse(strings.Fields("--bootstrap a:1 --bogus 1")); err == nil {
		t.Fatal("an unknown flag must be refused")
	}
}

func TestSummaryHasPerfFormat(t *testing.T) {
	r := NewRecorder(4, 100)
	for i := 0; i < 4; i++ {
		r.Done(time.Now(), nil)
	}
	s := r.Summary(time.Second)
	if !strings.HasPrefix(s, "4 records sent, 4.0 records/sec (0.00 MB/sec), ") || !strings.HasSuffix(s, " ms 99.9th.") {
		t.Fatalf("summary %q", s)
	}
}
