package klamm.peers;

import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.AppInfoParser;

/**
 * A producer benchmark driver on the Apache Kafka Java client that takes the flags of Klamm's
 * perf example (producer/examples/perf.rs) and prints its summary line, so the two can be
 * compared run for run:
 *
 * <pre>
 * java -cp classes:lib/* klamm.peers.PerfDriver --bootstrap 127.0.0.1:9092 --topic perf \
 *     --num-records 1000000 --record-size 100 --throughput -1 --acks all --compression none \
 *     --linger-ms 5 --batch-size 16384 --idempotence true
 * </pre>
 *
 * <p>The flags map one to one onto producer configs: acks, compression.type, linger.ms,
 * batch.size and enable.idempotence; everything else keeps the client's defaults. Latency is
 * measured from the {@code send} call to its callback.
 */
public final class PerfDriver {
    private static final String USAGE = "usage: PerfDriver --bootstrap HOST:PORT[,..] [--topic T] "
            + "[--num-records N] [--record-size BYTES] [--throughput RECORDS_PER_SEC|-1] "
            + "[--acks all|1|0] [--compression none|gzip|snappy|lz4|zstd] [--linger-ms MS] "
            + "[--batch-size BYTES] [--idempotence true|false]";

    /** The flags, with perf.rs's defaults. */
    static final class Options {
        String bootstrap;
        String topic = "perf";
        int numRecords = 1_000_000;
        int recordSize = 100;
        double throughput = -1;
        String acks = "all";
        String compression = "none";
        long lingerMs = 5;
        int batchSize = 16_384;
        boolean idempotence = true;
    }

    /** Send-to-callback latencies; callbacks run on the client's I/O thread. */
    private final int[] latUs;
    private final AtomicInteger done = new AtomicInteger();
    private final AtomicLong errors = new AtomicLong();

    private PerfDriver(int n) {
        latUs = new int[n];
    }

    private static void fail(String problem) {
        System.err.println("error: " + problem);
        System.err.println(USAGE);
        System.exit(2);
    }

    static Options parse(String[] args) {
        Options o = new Options();
        for (int i = 0; i < args.length; i += 2) {
            String flag = args[i];
            if (i + 1 >= args.length) {
                fail(flag + " needs a value");
            }
            String v = args[i + 1];
            try {
                switch (flag) {
                    case "--bootstrap" -> o.bootstrap = v;
                    case "--topic" -> o.topic = v;
                    case "--num-records" -> o.numRecords = Integer.parseInt(v);
                    case "--record-size" -> o.recordSize = Integer.parseInt(v);
                    case "--throughput" -> o.throughput = Double.parseDouble(v);
                    case "--acks" -> o.acks = switch (v) {
                        case "all", "-1" -> "all";
                        case "1", "0" -> v;
                        default -> throw new IllegalArgumentException("not all, 1 or 0");
                    };
                    case "--compression" -> o.compression = v;
                    case "--linger-ms" -> o.lingerMs = Long.parseLong(v);
                    case "--batch-size" -> o.batchSize = Integer.parseInt(v);
                    case "--idempotence" -> o.idempotence = switch (v) {
                        case "true" -> true;
                        case "false" -> false;
                        default -> throw new IllegalArgumentException("not true or false");
                    };
                    default -> fail("unknown option " + flag);
                }
            } catch (IllegalArgumentException e) {
                fail(flag + ": cannot parse \"" + v + "\" (" + e.getMessage() + ")");
            }
        }
        if (o.bootstrap == null || o.bootstrap.isEmpty()) {
            fail("--bootstrap is required");
        }
        if (o.numRecords < 0 || o.recordSize < 0) {
            fail("--num-records and --record-size must not be negative");
        }
        return o;
    }

    private void done(long sentNanos, Exception e) {
        long us = Math.min((System.nanoTime() - sentNanos) / 1_000, Integer.MAX_VALUE);
        int i = done.getAndIncrement();
        if (i < latUs.length) {
            latUs[i] = (int) us;
        }
        if (e != null && errors.incrementAndGet() <= 10) {
            System.err.println("delivery failed: " + e);
        }
    }

    private static double metric(Map<MetricName, ? extends Metric> metrics, String name) {
        for (Map.Entry<MetricName, ? extends Metric> m : metrics.entrySet()) {
            if (m.getKey().name().equals(name) && m.getKey().group().equals("producer-metrics")) {
                Object v = m.getValue().metricValue();
                return v instanceof Number n ? n.doubleValue() : Double.NaN;
            }
        }
        return Double.NaN;
    }

    private String summary(int recordSize, double elapsedSecs) {
        int n = Math.min(done.get(), latUs.length);
        int[] l = Arrays.copyOf(latUs, n);
        Arrays.sort(l);
        double sum = 0;
        for (int us : l) {
            sum += us;
        }
        double avg = sum / Math.max(n, 1) / 1000.0;
        double rate = n / elapsedSecs;
        return String.format(Locale.ROOT,
                "%d records sent, %.1f records/sec (%.2f MB/sec), %.2f ms avg latency, "
                        + "%.2f ms max latency, %.2f ms 50th, %.2f ms 95th, %.2f ms 99th, %.2f ms 99.9th.",
                n, rate, rate * recordSize / (1024.0 * 1024.0), avg, pct(l, 1.0), pct(l, 0.5),
                pct(l, 0.95), pct(l, 0.99), pct(l, 0.999));
    }

    private static double pct(int[] sorted, double p) {
        if (sorted.length == 0) {
            return 0;
        }
        int i = Math.min((int) (sorted.length * p), sorted.length - 1);
        return sorted[i] / 1000.0;
    }

    /** Prints records completed per 5 s window on stderr, as perf.rs does. */
    private Thread progress(int recordSize) {
        Thread t = new Thread(() -> {
            long last = 0;
            long lastAt = System.nanoTime();
            while (!Thread.currentThread().isInterrupted()) {
                try {
                    Thread.sleep(5_000);
                } catch (InterruptedException e) {
                    return;
                }
                long now = System.nanoTime();
                long n = done.get();
                double rate = (n - last) / ((now - lastAt) / 1e9);
                System.err.printf(Locale.ROOT, "%d records sent, %.1f records/sec (%.2f MB/sec).%n",
                        n - last, rate, rate * recordSize / (1024.0 * 1024.0));
                last = n;
                lastAt = now;
            }
        }, "progress");
        t.setDaemon(true);
        t.start();
        return t;
    }

    /**
     * Runs the benchmark.
     *
     * @param args the flags of perf.rs
     */
    public static void main(String[] args) {
        Options o = parse(args);
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, o.bootstrap);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, "java-perf");
        p.put(ProducerConfig.ACKS_CONFIG, o.acks);
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, o.compression);
        p.put(ProducerConfig.LINGER_MS_CONFIG, Long.toString(o.lingerMs));
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, Integer.toString(o.batchSize));
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, Boolean.toString(o.idempotence));
        KafkaProducer<byte[], byte[]> producer = null;
        try {
            producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
        } catch (KafkaException e) {
            fail("the producer refused its configuration: " + e.getMessage());
        }
        System.err.println("kafka-clients " + AppInfoParser.getVersion());

        byte[] payload = new byte[o.recordSize];
        for (int i = 0; i < payload.length; i++) {
            payload[i] = (byte) ('A' + i % 26);
        }
        PerfDriver d = new PerfDriver(o.numRecords);
        Thread progress = d.progress(o.recordSize);
        long start = System.nanoTime();
        for (int i = 0; i < o.numRecords; i++) {
            if (o.throughput > 0) {
                long due = start + (long) (i / o.throughput * 1e9);
                long wait;
                while ((wait = due - System.nanoTime()) > 0) {
                    LockSupport.parkNanos(wait);
                }
            }
            long sent = System.nanoTime();
            try {
                producer.send(new ProducerRecord<>(o.topic, payload), (md, e) -> d.done(sent, e));
            } catch (KafkaException e) {
                d.done(sent, e);
            }
        }
        producer.flush();
        double elapsed = (System.nanoTime() - start) / 1e9;
        progress.interrupt();
        Map<MetricName, ? extends Metric> metrics = producer.metrics();
        double batchAvg = metric(metrics, "batch-size-avg");
        double retries = metric(metrics, "record-retry-total");
        double requests = metric(metrics, "request-total");
        producer.close(Duration.ofSeconds(30));

        System.out.println(d.summary(o.recordSize, elapsed));
        System.out.printf(Locale.ROOT, "%d errors; %.0f bytes avg per batch, %.0f retries, %.0f requests.%n",
                d.errors.get(), batchAvg, retries, requests);
        System.out.flush();
        System.exit(d.errors.get() > 0 || d.done.get() != o.numRecords ? 1 : 0);
    }
}
