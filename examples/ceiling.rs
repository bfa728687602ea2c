//! The load benchmark's ceiling (issue 7): the least an axum server can do
//! to answer `POST /lynkapi`. It reads the request body and returns fixed
//! bytes (lynk's own answer to `{ organization { id name } }`), so
//! `bench/load.sh` can put lynk's throughput beside it, same tool, same
//! connections, same run.
//!
//! Usage: `ceiling ADDRESS BODY [WORK_MICROS]`, e.g.
//! `ceiling 127.0.0.1:9100 '{"data":{"organization":{"id":"…","name":"Acme Corp"}}}'`.
//!
//! With `WORK_MICROS`, each request first keeps its worker thread busy for
//! that many microseconds, as lynk's own work on a request does (the inline
//! SQLite read, GraphQL execution): the load benchmark runs it beside the
//! bare ceiling to show how much work per request a given share of the
//! ceiling leaves room for on the machine at hand.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use axum::{Router, body::Bytes, http::header, response::IntoResponse, routing::post};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(address), Some(body)) = (args.next(), args.next()) else {
        eprintln!("usage: ceiling ADDRESS BODY [WORK_MICROS]");
        std::process::exit(2);
    };
    let work = match args.next().map(|micros| micros.parse::<u64>()) {
        None => Duration::ZERO,
        Some(Ok(micros)) => Duration::from_micros(micros),
        Some(Err(_)) => {
            eprintln!("ceiling: WORK_MICROS must be a whole number of microseconds");
            std::process::exit(2);
        }
    };
    let address: SocketAddr = address
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let body = Bytes::from(body);
    let app = Router::new().route(
        "/lynkapi",
        post(move |_request: Bytes| {
            let body = body.clone();
            async move {
                if !work.is_zero() {
                    busy_for(work);
                }
                ([(header::CONTENT_TYPE, "application/json")], body).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(address).await?;
    axum::serve(listener, app).await
}

/// Spins on the calling thread until `work` has passed.
fn busy_for(work: Duration) {
    let start = Instant::now();
    while start.elapsed() < work {
        std::hint::spin_loop();
    }
}
