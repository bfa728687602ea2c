//! Reading a GraphQL request off HTTP: from the query string on `GET`,
//! from the body otherwise, as JSON or as a multipart upload (the GraphQL
//! multipart request spec, what `curl -F` sends), within the body limits.

use std::sync::Arc;

use async_graphql_axum::GraphQLRequest;
use axum::{
    body::Body,
    extract::{FromRequest, Request},
    http::{HeaderMap, Method, header, request::Parts},
};

use crate::error::Error;

/// Why the request could not be read.
pub enum Rejected {
    /// A caller without a valid credential sent more than
    /// [`ANONYMOUS_BODY_LIMIT`]: no public operation is that large.
    AnonymousTooLarge,
    /// Anything else.
    Error(Error),
}

/// Reads the GraphQL request: from the query string on `GET`; from the body
/// otherwise, as JSON or as a multipart upload (the GraphQL multipart
/// request spec, what `curl -F` sends) whose files may be at most
/// `max_file_bytes`. async-graphql-axum's extractor cannot take multipart
/// options, hence the body is read here. A body over a limit is a 413;
/// with `anonymous_limit`, a body over it is refused before it is read
/// when its `Content-Length` says so, or as soon as the limit is passed.
pub async fn receive_request(
    parts: &Parts,
    body: Body,
    max_file_bytes: usize,
    anonymous_limit: Option<usize>,
) -> Result<async_graphql::Request, Rejected> {
    use std::sync::atomic::{AtomicBool, Ordering};

    use async_graphql::{
        ParseRequestError,
        futures_util::TryStreamExt,
        http::{MultipartOptions, receive_body},
    };
    use async_graphql_axum::rejection::GraphQLRejection;

    if parts.method == Method::GET {
        // A rare path: copying the head here keeps the common one copy-free.
        let request = Request::from_parts(parts.clone(), body);
        return Box::pin(GraphQLRequest::<GraphQLRejection>::from_request(
            request,
            &(),
        ))
        .await
        .map(GraphQLRequest::into_inner)
        .map_err(|rejection| Rejected::Error(not_a_graphql_request(&rejection.0)));
    }
    let multipart = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .get(..10)
                .is_some_and(|start| start.eq_ignore_ascii_case("multipart/"))
        });
    let body = match anonymous_limit {
        Some(limit) => {
            let declared = parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|length| length > limit as u64) {
                return Err(Rejected::AnonymousTooLarge);
            }
            match axum::body::to_bytes(body, limit).await {
                Ok(bytes) if !multipart => return parse_json(&bytes),
                Ok(bytes) => Body::from(bytes),
                Err(_) => return Err(Rejected::AnonymousTooLarge),
            }
        }
        // JSON, the common case, read whole and parsed as one request.
        None if !multipart => {
            return match axum::body::to_bytes(body, usize::MAX).await {
                Ok(bytes) => parse_json(&bytes),
                Err(err) if is_length_limit(&err) => {
                    Err(Rejected::Error(too_large(max_file_bytes)))
                }
                Err(err) => Err(Rejected::Error(not_a_graphql_request(
                    &ParseRequestError::Io(std::io::Error::other(err)),
                ))),
            };
        }
        None => body,
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // The parsers wrap read errors in their own; remember whether the body
    // limit was the cause as the bytes are read.
    let over_limit = Arc::new(AtomicBool::new(false));
    let body = body
        .into_data_stream()
        .map_err({
            let over_limit = Arc::clone(&over_limit);
            move |err| {
                if is_length_limit(&err) {
                    over_limit.store(true, Ordering::Relaxed);
                }
                std::io::Error::other(err)
            }
        })
        .into_async_read();
    let options = MultipartOptions::default().max_file_size(max_file_bytes);
    // Boxed, as the GET path above: the JSON path's future stays small.
    match Box::pin(receive_body(content_type, body, options)).await {
        Ok(request) => Ok(request),
        Err(ParseRequestError::PayloadTooLarge) => Err(Rejected::Error(too_large(max_file_bytes))),
        Err(_) if over_limit.load(Ordering::Relaxed) => {
            Err(Rejected::Error(too_large(max_file_bytes)))
        }
        Err(err) => Err(Rejected::Error(not_a_graphql_request(&err))),
    }
}

/// A JSON body: one GraphQL request. Parsed as `Request` itself rather than
/// async-graphql's `BatchRequest`, an untagged enum that serde buffers
/// whole before trying each variant; a batch (a JSON array) is refused as
/// async-graphql refuses it.
/// The largest `/lynkapi` request body: an SBOM sent inline in a JSON
/// string can double in size through escaping, plus room for the query.
pub fn body_limit(max_sbom_bytes: usize) -> usize {
    max_sbom_bytes.saturating_mul(2).saturating_add(1024 * 1024)
}

/// The refusal of a body over [`body_limit`].
pub fn too_large(max_sbom_bytes: usize) -> Error {
    Error::PayloadTooLarge {
        max_sbom_bytes,
        body_limit: body_limit(max_sbom_bytes),
    }
}

fn parse_json(bytes: &[u8]) -> Result<async_graphql::Request, Rejected> {
    use async_graphql::ParseRequestError;

    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(Rejected::Error(not_a_graphql_request(
            &ParseRequestError::UnsupportedBatch,
        )));
    }
    serde_json::from_slice(bytes).map_err(|err| {
        Rejected::Error(not_a_graphql_request(&ParseRequestError::InvalidRequest(
            Box::new(err),
        )))
    })
}

/// HTTP 400 for a body that is not a GraphQL request (malformed JSON, a
/// broken multipart upload). The parser's message says where it went
/// wrong; it is cut short, since it may quote the input.
fn not_a_graphql_request(err: &async_graphql::ParseRequestError) -> Error {
    let mut reason = err.to_string();
    if let Some((cut, _)) = reason.char_indices().nth(200) {
        reason.truncate(cut);
        reason.push('…');
    }
    Error::BadRequest(format!(
        "the request is not a GraphQL request ({reason}); POST JSON such as \
         {{\"query\": \"query {{ organization {{ id name }} }}\"}}"
    ))
}

/// Whether a body read failed because `RequestBodyLimitLayer` cut it off
/// (a body sent without `Content-Length`; with one, the layer answers 413
/// itself). `http_body_util::LengthLimitError` is not nameable without
/// another dependency; its message is its identity, and a test sending a
/// chunked body over the limit keeps this honest.
fn is_length_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if err.to_string() == "length limit exceeded" {
            return true;
        }
        cause = err.source();
    }
    false
}

/// POST bodies must be GraphQL JSON (or a multipart upload).
pub fn is_supported_media_type(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = content_type.split(';').next().unwrap_or("").trim();
    [
        "application/json",
        "application/graphql-response+json",
        "application/graphql",
        "multipart/form-data",
    ]
    .iter()
    .any(|supported| essence.eq_ignore_ascii_case(supported))
}
