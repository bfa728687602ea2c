//! The load benchmark's ceiling (issue 7): the least an axum server can do
//! to answer `POST /lynkapi`. It reads the request body and returns fixed
//! bytes (lynk's own answer to `{ organization { id name } }`), so
//! `bench/load.sh` can put lynk's throughput beside it, same tool, same
//! connections, same run.
//!
//! Usage: `ceiling ADDRESS BODY`, e.g.
//! `ceiling 127.0.0.1:9100 '{"data":{"organization":{"id":"…","name":"Acme Corp"}}}'`.

use std::net::SocketAddr;

use axum::{Router, body::Bytes, http::header, response::IntoResponse, routing::post};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(address), Some(body)) = (args.next(), args.next()) else {
        eprintln!("usage: ceiling ADDRESS BODY");
        std::process::exit(2);
    };
    let address: SocketAddr = address
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let body = Bytes::from(body);
    let app = Router::new().route(
        "/lynkapi",
        post(move |_request: Bytes| {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], body).into_response() }
        }),
    );
    let listener = tokio::net::TcpListener::bind(address).await?;
    axum::serve(listener, app).await
}
