// Command seeds reproduces the second failure Klamm was founded on: an HTTP service that
// creates a fresh sarama transactional producer, with a random UUID transactional.id, for
// every request (init, begin, send an order and an audit record, commit or abort, close).
// It drives itself with concurrent clients, then reads the orders topic back read_committed
// and checks exactly-once from the outside. Build it with -race so that the Go race
// detector reports what it sees ("WARNING: DATA RACE" on stderr; the xtask counts them).
//
// The last line on stdout is one JSON object with the results (see Summary).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
)

// Summary is what the run printed as its last line.
type Summary struct {
	Requests      int            `json:"requests"`
	Committed     int            `json:"committed"`
	Rejected      int            `json:"rejected"`
	Failed        int            `json:"failed"`
	ErrorKinds    map[string]int `json:"error_kinds"`
	ElapsedS      float64        `json:"elapsed_s"`
	RequestsPerS  float64        `json:"requests_per_s"`
	LatencyP50Ms  float64        `json:"latency_p50_ms"`
	LatencyP99Ms  float64        `json:"latency_p99_ms"`
	Dials         int64          `json:"connections_opened"`
	TxnIDs        int64          `json:"transactional_ids_initialized"`
	Visible       int            `json:"visible"`
	Duplicates    int            `json:"duplicates"`
	Missing       int            `json:"missing"`
	FailedVisible int            `json:"failed_visible"`
	ExactlyOnce   bool           `json:"exactly_once"`
}

// dialer counts the TCP connections sarama opens.
type dialer struct {
	d     net.Dialer
	dials atomic.Int64
}

func (c *dialer) Dial(network, addr string) (net.Conn, error) {
	c.dials.Add(1)
	return c.d.Dial(network, addr)
}

type service struct {
	brokers []string
	orders  string
	audit   string
	dialer  *dialer
	txnIDs  atomic.Int64
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *service) config(id string) *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_1_0_0
	cfg.ClientID = "seeds-per-request"
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Retry.Max = 5
	cfg.Producer.Transaction.ID = "seeds-" + id
	cfg.Net.MaxOpenRequests = 1
	cfg.Net.Proxy.Enable = true
	cfg.Net.Proxy.Dialer = s.dialer
	return cfg
}

// order writes one order and its audit record in a transaction of a producer made for
// this request alone; reject aborts after both records were acknowledged.
func (s *service) order(key string, reject bool) error {
	p, err := sarama.NewAsyncProducer(s.brokers, s.config(randomID()))
	if err != nil {
		return fmt.Errorf("new producer: %w", err)
	}
	s.txnIDs.Add(1)
	defer p.Close()
	if err := p.BeginTxn(); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	p.Input() <- &sarama.ProducerMessage{Topic: s.orders, Key: sarama.StringEncoder(key), Value: sarama.StringEncoder("order")}
	p.Input() <- &sarama.ProducerMessage{Topic: s.audit, Key: sarama.StringEncoder(key), Value: sarama.StringEncoder("created")}
	for i := 0; i < 2; i++ {
		select {
		case <-p.Successes():
		case e := <-p.Errors():
			_ = p.AbortTxn()
			return fmt.Errorf("delivery: %w", e.Err)
		}
	}
	if reject {
		if err := p.AbortTxn(); err != nil {
			return fmt.Errorf("abort: %w", err)
		}
		return errRejected
	}
	if err := p.CommitTxn(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

var errRejected = errors.New("rejected by the handler")

func (s *service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/orders/")
	err := s.order(key, r.URL.Query().Get("reject") == "1")
	switch {
	case err == nil:
		w.WriteHeader(http.StatusOK)
	case errors.Is(err, errRejected):
		w.WriteHeader(http.StatusConflict)
	default:
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(err.Error()))
	}
}

// kind shortens an error message to its kind (the text up to the first detail).
func kind(msg string) string {
	if i := strings.Index(msg, " - "); i > 0 {
		msg = msg[:i]
	}
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
}

// readCommitted counts every key of topic visible to a read_committed consumer.
func readCommitted(brokers []string, topic string) (map[string]int, error) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_1_0_0
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cfg.Consumer.Return.Errors = true
	c, err := sarama.NewConsumer(brokers, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	parts, err := c.Partitions(topic)
	if err != nil {
		return nil, err
	}
	seen := map[string]int{}
	for _, p := range parts {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
		for done := false; !done; {
			select {
			case m := <-pc.Messages():
				seen[string(m.Key)]++
			case <-time.After(3 * time.Second):
				done = true
			}
		}
		pc.Close()
	}
	return seen, nil
}

func main() {
	bootstrap := flag.String("bootstrap", "", "HOST:PORT[,..]")
	requests := flag.Int("requests", 2000, "requests in all")
	concurrency := flag.Int("concurrency", 64, "concurrent clients")
	orders := flag.String("orders", "seeds-orders", "orders topic")
	audit := flag.String("audit", "seeds-audit", "audit topic")
	rejectEvery := flag.Int("reject-every", 10, "every Nth request is rejected after writing (0: none)")
	flag.Parse()
	if *bootstrap == "" {
		fmt.Fprintln(os.Stderr, "usage: seeds --bootstrap HOST:PORT [--requests N] [--concurrency C]")
		os.Exit(2)
	}
	s := &service{brokers: strings.Split(*bootstrap, ","), orders: *orders, audit: *audit, dialer: &dialer{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: s}
	go func() { _ = srv.Serve(ln) }()
	url := "http://" + ln.Addr().String() + "/orders/"
	client := &http.Client{Timeout: 120 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency}}

	type outcome struct {
		key     string
		status  int
		err     string
		latency time.Duration
	}
	results := make([]outcome, *requests)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < *concurrency; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= *requests {
					return
				}
				key := fmt.Sprintf("order-%d", i)
				reject := *rejectEvery > 0 && i%*rejectEvery == *rejectEvery-1
				u := url + key
				if reject {
					u += "?reject=1"
				}
				t := time.Now()
				resp, err := client.Post(u, "text/plain", nil)
				o := outcome{key: key, latency: time.Since(t)}
				if err != nil {
					o.err = err.Error()
				} else {
					o.status = resp.StatusCode
					body := make([]byte, 512)
					n, _ := resp.Body.Read(body)
					o.err = string(body[:n])
					resp.Body.Close()
				}
				results[i] = o
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	_ = srv.Shutdown(context.Background())

	sum := Summary{Requests: *requests, ErrorKinds: map[string]int{}, ElapsedS: elapsed.Seconds()}
	lat := make([]float64, 0, len(results))
	for _, o := range results {
		lat = append(lat, float64(o.latency.Microseconds())/1000)
		switch o.status {
		case http.StatusOK:
			sum.Committed++
		case http.StatusConflict:
			sum.Rejected++
		default:
			sum.Failed++
			sum.ErrorKinds[kind(o.err)]++
		}
	}
	sort.Float64s(lat)
	sum.LatencyP50Ms = lat[len(lat)/2]
	sum.LatencyP99Ms = lat[len(lat)*99/100]
	sum.RequestsPerS = float64(*requests) / elapsed.Seconds()
	sum.Dials = s.dialer.dials.Load()
	sum.TxnIDs = s.txnIDs.Load()

	seen, err := readCommitted(s.brokers, *orders)
	if err != nil {
		fmt.Fprintln(os.Stderr, "read back:", err)
		os.Exit(1)
	}
	for _, n := range seen {
		sum.Visible += n
		if n > 1 {
			sum.Duplicates += n - 1
		}
	}
	for _, o := range results {
		n := seen[o.key]
		if o.status == http.StatusOK && n == 0 {
			sum.Missing++
		}
		if o.status != http.StatusOK && n > 0 {
			sum.FailedVisible++
		}
	}
	sum.ExactlyOnce = sum.Duplicates == 0 && sum.Missing == 0 && sum.FailedVisible == 0
	out, _ := json.Marshal(sum)
	fmt.Println(string(out))
}
