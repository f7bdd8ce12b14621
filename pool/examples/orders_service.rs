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
//!
//! An order whose body contains `reject` fails validation *after* its order record was sent:
//! the transaction is aborted and neither record may ever become visible.
//!
//! With `--drive N [--concurrency C]` (what `cargo xtask demo` runs) the service also plays
//! its own clients: it fires N concurrent requests at itself over HTTP (every tenth one a
//! `reject`), reads `orders` and `audit` back with a `read_committed` Fetch, prints a results
//! table (requests, commits, aborts, records visible, duplicates, missing, p50/p99 latency,
//! requests/s) and exits non-zero if the exactly-once check failed.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use klamm_pool::{TransactionalPool, TxnProducerFactory};
use klamm_producer::ProducerRecord;
use klamm_txn::TxnError;

/// The pool's producers (klamm-txn on klamm-producer) all share one klamm-net cluster: one
/// connection per broker for the whole service.
type Pool = TransactionalPool<TxnProducerFactory>;

#[path = "orders_service/drive.rs"]
mod drive;

struct Args {
    bootstrap: String,
    listen: SocketAddr,
    size: usize,
    prefix: String,
    drive: Option<usize>,
    concurrency: usize,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        bootstrap: String::new(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        size: 8,
        prefix: "orders-svc".into(),
        drive: None,
        concurrency: 64,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--bootstrap" => a.bootstrap = value()?,
            "--listen" => a.listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--size" => a.size = value()?.parse().map_err(|e| format!("--size: {e}"))?,
            "--prefix" => a.prefix = value()?,
            "--drive" => a.drive = Some(value()?.parse().map_err(|e| format!("--drive: {e}"))?),
            "--concurrency" => {
                a.concurrency = value()?
                    .parse()
                    .map_err(|e| format!("--concurrency: {e}"))?
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.bootstrap.is_empty() {
        return Err("--bootstrap HOST:PORT is required".into());
    }
    Ok(a)
}

/// Why an order's transaction did not commit.
#[derive(Debug)]
enum OrderError {
    /// Kafka said no (the pool aborted, or replaced a broken producer).
    Txn(TxnError),
    /// The order failed validation after its record was sent (the pool aborted).
    Rejected(String),
}

impl From<TxnError> for OrderError {
    fn from(e: TxnError) -> Self {
        OrderError::Txn(e)
    }
}

impl std::fmt::Display for OrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrderError::Txn(e) => write!(f, "{e}"),
            OrderError::Rejected(id) => write!(f, "order {id} rejected by validation"),
        }
    }
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
            let reject = body.contains("reject");
            let order = txn
                .send(ProducerRecord::new("orders").key(key.clone()).value(body))
                .await?;
            if reject {
                // Validation fails after the order was written: the pool aborts.
                return Err(OrderError::Rejected(key));
            }
            let audit = txn
                .send(ProducerRecord::new("audit").key(key).value("order created"))
                .await?;
            Ok::<_, OrderError>((txn.transactional_id().to_owned(), order, audit))
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
    let bootstrap = args.bootstrap.clone();
    // One metadata cache for the pool; each producer on its own connection to each broker.
    let factory = TxnProducerFactory::connect(move |b| {
        b.bootstrap(&bootstrap)
            .producer(|p| p.linger(Duration::from_millis(1)))
    })
    .await?;
    let cluster = factory.cluster().clone();
    let pool: Pool = TransactionalPool::builder()
        .factory(factory)
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
    let addr = listener.local_addr()?;
    println!("listening: http://{addr}");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = stop_rx => {}
                }
            })
            .await
    });
    let mut ok = true;
    if let Some(n) = args.drive {
        let report = drive::run(addr, &args.bootstrap, n, args.concurrency, &pool).await?;
        ok = report.exactly_once();
        let _ = stop_tx.send(());
    }
    server.await??;
    let taken = pool.close(Duration::from_secs(5)).await;
    cluster.close();
    eprintln!("pool closed ({taken} transactions cut short)");
    if !ok {
        return Err("the exactly-once check failed".into());
    }
    Ok(())
}
