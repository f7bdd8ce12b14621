use std::time::Duration;

use super::super::{Acks, Compression, ConfigError, PartitionerChoice, ProducerConfig};

fn base() -> super::ProducerConfigBuilder {
    ProducerConfig::builder().bootstrap(["127.0.0.1:9092"])
}

#[test]
fn defaults_are_java_3x_defaults() {
    let c = base().build().unwrap();
    assert_eq!(c.acks, Acks::All);
    assert_eq!(c.linger, Duration::ZERO);
    assert_eq!(c.batch_size, 16_384);
    assert_eq!(c.buffer_memory, 33_554_432);
    assert_eq!(c.max_block, Duration::from_millis(60_000));
    assert_eq!(c.max_request_size, 1_048_576);
    assert_eq!(c.compression, Compression::None);
    assert_eq!(c.delivery_timeout, Duration::from_millis(120_000));
    assert_eq!(c.request_timeout, Duration::from_millis(30_000));
    assert_eq!(c.retry_backoff, Duration::from_millis(100));
    assert_eq!(c.retry_backoff_max, Duration::from_millis(1_000));
    assert_eq!(c.retries, 2_147_483_647);
    assert_eq!(c.max_in_flight, 5);
    assert!(c.enable_idempotence);
    assert!(matches!(c.partitioner, PartitionerChoice::Default));
    assert!(c.partitioner_adaptive);
    assert!(!c.partitioner_ignore_keys);
    assert_eq!(c.metadata_max_age, Duration::from_millis(300_000));
    assert_eq!(c.transactional_id, None);
}

#[test]
fn empty_bootstrap_is_refused() {
    let err = ProducerConfig::builder().build().unwrap_err();
    assert_eq!(err, ConfigError::EmptyBootstrap);
    assert!(err.to_string().contains("host:port"));
    let empty: [&str; 0] = [];
    assert_eq!(
        ProducerConfig::builder()
            .bootstrap(empty)
            .build()
            .unwrap_err(),
        ConfigError::EmptyBootstrap
    );
}

#[test]
fn bootstrap_addresses_are_checked() {
    for bad in [
        "localhost",
        ":9092",
        "host:0",
        "host:70000",
        "host:abc",
        "a b:1",
        "",
    ] {
        let err = ProducerConfig::builder()
            .bootstrap([bad])
            .build()
            .unwrap_err();
        assert_eq!(
            err,
            ConfigError::InvalidBootstrapAddress(bad.to_owned()),
            "{bad}"
        );
    }
    for good in [
        "localhost:9092",
        "[::1]:9092",
        "10.0.0.1:1",
        "kafka-0.svc:65535",
    ] {
        ProducerConfig::builder()
            .bootstrap([good])
            .build()
            .unwrap_or_else(|e| panic!("{good}: {e}"));
    }
}

#[test]
fn explicit_idempotence_conflicts_are_errors() {
    let err = base()
        .enable_idempotence(true)
        .acks(Acks::Leader)
        .build()
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::IdempotenceConflict {
                setting: "acks",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("Acks::All"), "{err}");

    let err = base()
        .enable_idempotence(true)
        .max_in_flight(6)
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        ConfigError::IdempotenceConflict {
            setting: "max_in_flight",
            ..
        }
    ));

    let err = base()
        .enable_idempotence(true)
        .retries(0)
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        ConfigError::IdempotenceConflict {
            setting: "retries",
            ..
        }
    ));
}

#[test]
fn implicit_idempotence_yields_to_conflicting_settings() {
    // Java (KAFKA-13598): without an explicit enable.idempotence, conflicts disable it.
    assert!(
        !base()
            .acks(Acks::Leader)
            .build()
            .unwrap()
            .enable_idempotence
    );
    assert!(!base().acks(Acks::None).build().unwrap().enable_idempotence);
    assert!(!base().max_in_flight(10).build().unwrap().enable_idempotence);
    assert!(!base().retries(0).build().unwrap().enable_idempotence);
    assert!(base().max_in_flight(5).build().unwrap().enable_idempotence);
    assert!(base().max_in_flight(1).build().unwrap().enable_idempotence);
    let off = base()
        .enable_idempotence(false)
        .max_in_flight(50)
        .build()
        .unwrap();
    assert!(!off.enable_idempotence);
    assert_eq!(off.max_in_flight, 50);
}

#[test]
fn transactional_id_requires_idempotence() {
    let err = base()
        .transactional_id("orders-0")
        .enable_idempotence(false)
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        ConfigError::IdempotenceConflict {
            setting: "transactional_id",
            ..
        }
    ));
    let err = base()
        .transactional_id("orders-0")
        .acks(Acks::Leader)
        .build()
        .unwrap_err();
    assert!(matches!(
        err,
        ConfigError::IdempotenceConflict {
            setting: "acks",
            ..
        }
    ));
    let ok = base().transactional_id("orders-0").build().unwrap();
    assert!(ok.enable_idempotence);
    let err = base().transactional_id("").build().unwrap_err();
    assert!(matches!(
        err,
        ConfigError::InvalidId {
            setting: "transactional_id",
            ..
        }
    ));
}

#[test]
fn delivery_timeout_must_cover_linger_and_request_timeout() {
    let err = base()
        .linger(Duration::from_millis(500))
        .request_timeout(Duration::from_secs(10))
        .delivery_timeout(Duration::from_secs(10))
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        ConfigError::DeliveryTimeoutTooShort {
            delivery_ms: 10_000,
            minimum_ms: 10_500
        }
    );
    // Exactly the minimum is fine.
    base()
        .linger(Duration::from_millis(500))
        .request_timeout(Duration::from_secs(10))
        .delivery_timeout(Duration::from_millis(10_500))
        .build()
        .unwrap();
    // Unset: raised to the minimum, as Java does with a warning.
    let c = base()
        .linger(Duration::from_secs(100))
        .request_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    assert_eq!(c.delivery_timeout, Duration::from_secs(160));
}

#[test]
fn zero_and_oversized_values_are_refused() {
    assert_eq!(
        base().buffer_memory(0).build().unwrap_err(),
        ConfigError::ZeroSize {
            setting: "buffer_memory"
        }
    );
    assert_eq!(
        base().max_request_size(0).build().unwrap_err(),
        ConfigError::ZeroSize {
            setting: "max_request_size"
        }
    );
    assert_eq!(
        base().max_in_flight(0).build().unwrap_err(),
        ConfigError::ZeroSize {
            setting: "max_in_flight"
        }
    );
    assert_eq!(
        base().request_timeout(Duration::ZERO).build().unwrap_err(),
        ConfigError::ZeroDuration {
            setting: "request_timeout"
        }
    );
    assert!(matches!(
        base().batch_size(1 << 31).build().unwrap_err(),
        ConfigError::TooLarge {
            setting: "batch_size",
            ..
        }
    ));
    // batch_size 0 means "one record per batch", as in Java.
    assert_eq!(base().batch_size(0).build().unwrap().batch_size, 0);
}

#[test]
fn every_compiled_codec_is_accepted() {
    for c in Compression::ALL {
        assert!(c.is_enabled(), "default features enable every codec");
        assert_eq!(base().compression(c).build().unwrap().compression, c);
    }
}

#[test]
fn backoff_grows_exponentially_up_to_the_ceiling_with_jitter() {
    let c = base()
        .retry_backoff(Duration::from_millis(100))
        .retry_backoff_max(Duration::from_millis(1000))
        .build()
        .unwrap();
    let got: Vec<u128> = (1..=6).map(|a| c.backoff_base_for(a).as_millis()).collect();
    assert_eq!(got, [100, 200, 400, 800, 1000, 1000]);
    assert_eq!(c.backoff_base_for(u32::MAX), Duration::from_millis(1000));
    // every draw lies in KIP-580's band around its base, and the draws vary
    for attempt in [1, 2, 3, 4, 5, 6, 40, u32::MAX] {
        let base = c.backoff_base_for(attempt);
        let draws: Vec<Duration> = (0..200).map(|_| c.backoff_for(attempt)).collect();
        for d in &draws {
            assert!(
                *d >= base.mul_f64(0.8) && *d <= base.mul_f64(1.2),
                "attempt {attempt}: {d:?} outside [0.8, 1.2] x {base:?}"
            );
        }
        assert!(
            draws.iter().any(|d| *d != draws[0]),
            "attempt {attempt}: jittered"
        );
    }
    // retry_backoff above the ceiling wins, as in Java.
    let c = base()
        .retry_backoff(Duration::from_secs(2))
        .retry_backoff_max(Duration::from_secs(1))
        .build()
        .unwrap();
    assert_eq!(c.backoff_base_for(3), Duration::from_secs(2));
    let d = c.backoff_for(3);
    assert!(
        d >= Duration::from_millis(1600) && d <= Duration::from_millis(2400),
        "{d:?}"
    );
}

#[test]
fn custom_partitioner_is_kept() {
    let c = base()
        .partitioner_fn(|ctx| ctx.partitions - 1)
        .build()
        .unwrap();
    assert!(matches!(c.partitioner, PartitionerChoice::Custom(_)));
    assert_eq!(format!("{:?}", c.partitioner), "Custom(..)");
}

#[test]
fn compression_levels_are_checked_against_their_codec() {
    let c = base()
        .compression(Compression::Gzip)
        .compression_gzip_level(9)
        .compression_zstd_level(-5)
        .build()
        .unwrap();
    assert_eq!(c.compression_level(), Some(9));
    assert_eq!(c.compression_zstd_level, Some(-5));
    assert_eq!(base().build().unwrap().compression_level(), None);
    for (builder, setting, level) in [
        (
            base().compression_gzip_level(0),
            "compression_gzip_level",
            0,
        ),
        (
            base().compression_gzip_level(10),
            "compression_gzip_level",
            10,
        ),
        (
            base().compression_zstd_level(23),
            "compression_zstd_level",
            23,
        ),
        (
            base().compression_zstd_level(-131_073),
            "compression_zstd_level",
            -131_073,
        ),
    ] {
        let err = builder.build().unwrap_err();
        assert!(
            matches!(err, ConfigError::CompressionLevel { setting: s, level: l, .. } if s == setting && l == level),
            "{err:?}"
        );
        assert!(err.to_string().contains("out of range"), "{err}");
    }
}
