//! The Klamm side of the producer benchmark.

use crate::run::{ProducerRun, RunResult};

/// Sends `run.records` records with klamm-producer and waits for every delivery.
pub fn producer(_run: &ProducerRun) -> Result<RunResult, String> {
    Err(
        "klamm-producer cannot connect to a broker yet (its klamm-net transport is not wired)"
            .into(),
    )
}
