//! The orders service: an HTTP service whose every request writes two records, an order and
//! an audit event, in one Kafka transaction through a pool of long-lived transactional
//! producers (stable ids `{prefix}-0..{prefix}-{size-1}`), instead of a new producer per request.
//!
//! ```text
//! cargo run -p klamm-pool --example orders_service -- --bootstrap 127.0.0.1:9092 \
//!     [--listen 127.0.0.1:0] [--size 8] [--prefix orders-svc]
//! ```
//!
//! The first line printed is `listening: http://ADDR`. Then:
//! - `POST /orders/{id}` with the order as the body: writes `id -> body` to topic `orders` and
//!   `id -> "order created"` to topic `audit` in one transaction; 200 `committed {id} via
//!   {transactional id}`, or 500 with the error (the transaction was aborted or its outcome is
//!   in the message).
//! - `GET /metrics`: the pool's metrics.
//! - Ctrl-C: closes the pool (waits up to 5 s for running transactions) and exits.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use klamm_pool::{ProducerFactory, TransactionalPool};
use klamm_producer::ProducerRecord;
use klamm_txn::{TransactionalProducer, TxnError};

/// Creates and initialises one transactional producer (klamm-txn on klamm-producer) per slot.
struct Factory {
    bootstrap: String,
}

impl ProducerFactory for Factory {
    type Producer = TransactionalProducer<klamm_producer::Producer, klamm_txn::ClusterTransport>;

    async fn create(&self, transactional_id: &str) -> Result<Self::Producer, TxnError> {
        let producer = TransactionalProducer::builder()
            .bootstrap(&self.bootstrap)
            .transactional_id(transactional_id.to_owned())
            .producer(|p| p.linger(Duration::from_millis(1)))
            .build()
            .await?;
        producer.init_transactions().await?;
        Ok(producer)
    }
}

type Pool = TransactionalPool<Factory>;

struct Args {
    bootstrap: String,
    listen: SocketAddr,
    size: usize,
    prefix: String,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        bootstrap: String::new(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        size: 8,
        prefix: "orders-svc".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--bootstrap" => a.bootstrap = value()?,
            "--listen" => a.listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--size" => a.size = value()?.parse().map_err(|e| format!("--size: {e}"))?,
            "--prefix" => a.prefix = value()?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.bootstrap.is_empty() {
        return Err("--bootstrap HOST:PORT is required".into());
    }
    Ok(a)
}

async fn create_order(
    State(pool): State<Pool>,
    Path(id): Path<String>,
    body: String,
) -> (StatusCode, String) {
    write_order(pool, id, body).await
}

async fn write_order(pool: Pool, id: String, body: String) -> (StatusCode, String) {
    let key = id.clone();
    let result = pool
        .transaction(|txn| async move {
            let order = txn
                .send(ProducerRecord::new("orders").key(key.clone()).value(body))
                .await?;
            let audit = txn
                .send(ProducerRecord::new("audit").key(key).value("order created"))
                .await?;
            Ok::<_, TxnError>((txn.transactional_id().to_owned(), order, audit))
        })
        .await;
    match result {
        Ok((via, order, audit)) => match (order.await, audit.await) {
            (Ok(_), Ok(_)) => (StatusCode::OK, format!("committed {id} via {via}\n")),
            (o, a) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "committed {id} but a delivery reported {:?} / {:?}\n",
                    o.err(),
                    a.err()
                ),
            ),
        },
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{id}: {e}\n")),
    }
}

async fn metrics(State(pool): State<Pool>) -> String {
    format!("{:#?}\n", pool.metrics())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = args().map_err(|e| format!("{e}\nusage: orders_service --bootstrap HOST:PORT [--listen ADDR] [--size N] [--prefix P]"))?;
    let pool: Pool = TransactionalPool::builder()
        .factory(Factory {
            bootstrap: args.bootstrap,
        })
        .id_prefix(args.prefix)
        .size(args.size)
        .checkout_timeout(Duration::from_secs(10))
        .build()
        .await?;
    let app = Router::new()
        .route("/orders/{id}", post(create_order))
        .route("/metrics", get(metrics))
        .with_state(pool.clone());
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!("listening: http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    let taken = pool.close(Duration::from_secs(5)).await;
    eprintln!("pool closed ({taken} transactions cut short)");
    Ok(())
}
