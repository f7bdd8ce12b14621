//! The checks Java's `ProducerConfig` and `KafkaProducer` constructor make, with typed errors.

use std::time::Duration;

use super::{Acks, Compression, ConfigError, ProducerConfig, ProducerConfigBuilder};

/// The most records an idempotent producer may have in flight per connection (Kafka's broker
/// keeps the last 5 batches per producer and partition).
pub(crate) const MAX_IN_FLIGHT_IDEMPOTENT: usize = 5;

const MAX_I32: u64 = i32::MAX as u64;
const MAX_STRING: usize = i16::MAX as usize;

pub(super) fn validate(b: ProducerConfigBuilder) -> Result<ProducerConfig, ConfigError> {
    if b.bootstrap.is_empty() {
        return Err(ConfigError::EmptyBootstrap);
    }
    for address in &b.bootstrap {
        check_address(address)?;
    }
    let client_id = b.client_id.unwrap_or_else(|| "klamm-producer".to_owned());
    if client_id.len() > MAX_STRING {
        return Err(ConfigError::InvalidId {
            setting: "client_id",
            value: client_id,
            reason: "longer than 32767 bytes",
        });
    }
    if let Some(id) = &b.transactional_id
        && (id.is_empty() || id.len() > MAX_STRING)
    {
        return Err(ConfigError::InvalidId {
            setting: "transactional_id",
            value: id.clone(),
            reason: "must be 1 to 32767 bytes long",
        });
    }

    let acks = b.acks.unwrap_or_default();
    let linger = b.linger.unwrap_or(Duration::ZERO);
    let batch_size = b.batch_size.unwrap_or(16 * 1024);
    let buffer_memory = b.buffer_memory.unwrap_or(32 * 1024 * 1024);
    let max_request_size = b.max_request_size.unwrap_or(1024 * 1024);
    let request_timeout = b.request_timeout.unwrap_or(Duration::from_secs(30));
    let retries = b.retries.unwrap_or(i32::MAX as u32);
    let max_in_flight = b.max_in_flight.unwrap_or(5);
    let compression = b.compression.unwrap_or_default();

    check_i32("batch_size", batch_size as u64)?;
    nonzero("buffer_memory", buffer_memory)?;
    nonzero("max_request_size", max_request_size)?;
    check_i32("max_request_size", max_request_size as u64)?;
    nonzero("max_in_flight", max_in_flight)?;
    check_i32("retries", u64::from(retries))?;
    if request_timeout.is_zero() {
        return Err(ConfigError::ZeroDuration {
            setting: "request_timeout",
        });
    }
    check_i32("request_timeout (ms)", millis(request_timeout))?;
    if b.metadata_max_idle.is_some_and(|d| d.is_zero()) {
        return Err(ConfigError::ZeroDuration {
            setting: "metadata_max_idle",
        });
    }
    check_compression(compression)?;
    check_level(
        "compression_gzip_level",
        b.compression_gzip_level,
        1..=9,
        "gzip levels are 1 to 9",
    )?;
    check_level(
        "compression_zstd_level",
        b.compression_zstd_level,
        -131_072..=22,
        "zstd levels are -131072 to 22",
    )?;

    let enable_idempotence = resolve_idempotence(
        b.enable_idempotence,
        b.transactional_id.is_some(),
        acks,
        retries,
        max_in_flight,
    )?;

    let minimum_delivery = linger.saturating_add(request_timeout);
    let delivery_timeout = match b.delivery_timeout {
        Some(d) if d < minimum_delivery => {
            return Err(ConfigError::DeliveryTimeoutTooShort {
                delivery_ms: d.as_millis(),
                minimum_ms: minimum_delivery.as_millis(),
            });
        }
        Some(d) => d,
        None => Duration::from_secs(120).max(minimum_delivery),
    };

    let retry_backoff = b.retry_backoff.unwrap_or(Duration::from_millis(100));
    let retry_backoff_max = b.retry_backoff_max.unwrap_or(Duration::from_secs(1));

    Ok(ProducerConfig {
        bootstrap: b.bootstrap,
        client_id,
        acks,
        linger,
        batch_size,
        buffer_memory,
        max_block: b.max_block.unwrap_or(Duration::from_secs(60)),
        max_request_size,
        compression,
        compression_gzip_level: b.compression_gzip_level,
        compression_zstd_level: b.compression_zstd_level,
        delivery_timeout,
        request_timeout,
        retry_backoff,
        // Java: when retry.backoff.ms exceeds retry.backoff.max.ms the former wins.
        retry_backoff_max: retry_backoff_max.max(retry_backoff),
        retries,
        max_in_flight,
        enable_idempotence,
        partitioner: b.partitioner.unwrap_or_default(),
        partitioner_ignore_keys: b.partitioner_ignore_keys.unwrap_or(false),
        partitioner_adaptive: b.partitioner_adaptive.unwrap_or(true),
        partitioner_availability_timeout: b
            .partitioner_availability_timeout
            .unwrap_or(Duration::ZERO),
        metadata_max_age: b.metadata_max_age.unwrap_or(Duration::from_secs(300)),
        metadata_max_idle: b.metadata_max_idle.unwrap_or(Duration::from_secs(300)),
        transactional_id: b.transactional_id,
        transaction_timeout: b.transaction_timeout.unwrap_or(Duration::from_secs(60)),
    })
}

/// Java's rule (KAFKA-13598): idempotence is on by default; a conflicting setting is an error
/// when idempotence (or a transactional id) was asked for explicitly, and switches idempotence
/// off silently otherwise.
fn resolve_idempotence(
    explicit: Option<bool>,
    transactional: bool,
    acks: Acks,
    retries: u32,
    max_in_flight: usize,
) -> Result<bool, ConfigError> {
    if explicit == Some(false) {
        if transactional {
            return Err(ConfigError::IdempotenceConflict {
                setting: "transactional_id",
                value: "set".to_owned(),
                requirement: "a transactional producer is always idempotent",
            });
        }
        return Ok(false);
    }
    let conflict = if acks != Acks::All {
        Some(ConfigError::IdempotenceConflict {
            setting: "acks",
            value: format!("{acks:?}"),
            requirement: "idempotence needs acks = Acks::All",
        })
    } else if max_in_flight > MAX_IN_FLIGHT_IDEMPOTENT {
        Some(ConfigError::IdempotenceConflict {
            setting: "max_in_flight",
            value: max_in_flight.to_string(),
            requirement: "idempotence allows at most 5 requests in flight",
        })
    } else if retries == 0 {
        Some(ConfigError::IdempotenceConflict {
            setting: "retries",
            value: "0".to_owned(),
            requirement: "idempotence needs retries > 0",
        })
    } else {
        None
    };
    match conflict {
        Some(err) if explicit == Some(true) || transactional => Err(err),
        Some(_) => Ok(false),
        None => Ok(true),
    }
}

fn check_address(address: &str) -> Result<(), ConfigError> {
    let invalid = || ConfigError::InvalidBootstrapAddress(address.to_owned());
    let (host, port) = address.trim().rsplit_once(':').ok_or_else(invalid)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(invalid());
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(invalid()),
    }
}

fn check_compression(c: Compression) -> Result<(), ConfigError> {
    if c.is_enabled() {
        Ok(())
    } else {
        Err(ConfigError::CompressionDisabled(c))
    }
}

/// Java refuses a level outside the codec's range when the producer is created, whichever
/// codec is in use; so does this.
fn check_level(
    setting: &'static str,
    level: Option<i32>,
    valid: std::ops::RangeInclusive<i32>,
    range: &'static str,
) -> Result<(), ConfigError> {
    match level {
        Some(level) if !valid.contains(&level) => Err(ConfigError::CompressionLevel {
            setting,
            level,
            range,
        }),
        _ => Ok(()),
    }
}

fn nonzero(setting: &'static str, value: usize) -> Result<(), ConfigError> {
    if value == 0 {
        Err(ConfigError::ZeroSize { setting })
    } else {
        Ok(())
    }
}

fn check_i32(setting: &'static str, value: u64) -> Result<(), ConfigError> {
    if value > MAX_I32 {
        Err(ConfigError::TooLarge {
            setting,
            value,
            max: MAX_I32,
        })
    } else {
        Ok(())
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
