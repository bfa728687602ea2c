//! The `/lynkapi` endpoint: the context guard.
//!
//! Reads `Authorization` and `X-Organization-ID`, resolves the principal
//! once, and answers 401/403 before any resolver runs (introspection
//! included) unless the operation touches only public fields. Then it
//! attaches the principal to the GraphQL request and executes it.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use async_graphql::parser::types::OperationType;
use async_graphql_axum::GraphQLRequest;
use axum::{
    body::Body,
    extract::{ConnectInfo, FromRequest, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use chrono::Utc;

use super::{
    Schemas,
    context::RequestContext,
    document_cache::{DocumentCache, Validation},
    operation,
};
use crate::{
    auth::{
        AuthFailure,
        credential::{
            PresentedCredential, client_address, presented_credential, requested_organization,
        },
        rate_limit::retry_after_secs,
    },
    error::REQUEST_ID,
    state::AppState,
};

/// The exact 401 body of DESIGN §1.
pub const UNAUTHORIZED_BODY: &str =
    r#"{"errors":[{"message":"Unauthorized","extensions":{"code":"UNAUTHORIZED"}}]}"#;
/// The exact request-level 403 body of DESIGN §4.
pub const FORBIDDEN_BODY: &str =
    r#"{"errors":[{"message":"Forbidden","extensions":{"code":"FORBIDDEN"}}]}"#;

/// Header that selects the organization for a session.
pub const ORGANIZATION_HEADER: &str = "x-organization-id";
/// Header carrying the request id (set by the request-id layer).
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// What the handler needs besides the request. Shared behind an `Arc`:
/// axum clones the state for every request.
pub struct GraphqlState {
    pub app: AppState,
    pub schemas: Schemas,
    pub documents: DocumentCache,
}

/// Largest body read from a caller without a valid credential: the
/// public operations (`login`, `acceptInvitation`) are small.
pub const ANONYMOUS_BODY_LIMIT: usize = 64 * 1024;
/// Longest query text accepted from anyone. Large values (SBOM documents)
/// travel in variables or as a multipart upload, not in the query.
pub const MAX_QUERY_BYTES: usize = 32 * 1024;

/// `GET` and `POST /lynkapi`.
pub async fn graphql(
    State(state): State<Arc<GraphqlState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let (method, headers) = (&parts.method, &parts.headers);
    if method == Method::GET && wants_graphiql(headers, parts.uri.query()) {
        return super::graphiql::page();
    }
    if method == Method::POST && !is_supported_media_type(headers) {
        return unsupported_media_type();
    }
    let request_id = headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);

    // The credential is decided from the headers, before the body is read:
    // a caller without a valid one gets a small body limit, and its
    // document is parsed only to see whether it is a public operation.
    let presented = presented_credential(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()));
    let token_was_sent = matches!(presented, PresentedCredential::Candidate(_));
    let requested = requested_organization(headers.get(ORGANIZATION_HEADER).map(|v| v.as_bytes()));
    let now = Utc::now();
    let client = client_address(
        peer.ip(),
        headers.get("x-forwarded-for").map(|v| v.as_bytes()),
        state.app.trusted_proxy_hops,
    );
    let authenticated = state
        .app
        .verifier
        .authenticate(presented, requested, now)
        .await;
    let failure = match &authenticated {
        Ok(Ok(_)) => None,
        Ok(Err(AuthFailure::Forbidden)) => {
            crate::metrics::record_authentication(&authenticated, false);
            tracing::info!("credential may not act in the requested organization");
            return json_response(StatusCode::FORBIDDEN, FORBIDDEN_BODY.to_owned(), headers);
        }
        Ok(Err(AuthFailure::Unauthorized(reason))) => Some(*reason),
        Err(_) => {
            crate::metrics::record_authentication(&authenticated, false);
            let Err(err) = authenticated else {
                unreachable!("matched Err above")
            };
            return internal_error(err, request_id, headers);
        }
    };
    let body_limit = failure.is_some().then_some(ANONYMOUS_BODY_LIMIT);
    let mut gql_request =
        match receive_request(&parts, body, state.app.max_sbom_bytes, body_limit).await {
            Ok(req) => req,
            Err(Rejected::AnonymousTooLarge) => {
                crate::metrics::record_authentication(&authenticated, false);
                return refuse_anonymous(&state.app, client, token_was_sent).await;
            }
            Err(Rejected::Response(response)) => return response,
        };
    if gql_request.query.len() > MAX_QUERY_BYTES {
        return query_too_large(gql_request.query.len(), headers);
    }

    // Parsed once here (or taken from the cache); execution reuses the parse.
    let operation_name = gql_request.operation_name.clone();
    let may_hold_nul = gql_request.query.contains('\0') || gql_request.query.contains("\\u");
    let (info, validation, nul_in_literals) = match state.documents.parse(&mut gql_request) {
        Ok((document, validation)) => (
            operation::analyze(document, operation_name.as_deref()),
            validation,
            may_hold_nul && operation::has_nul_in_literals(document),
        ),
        // The executor answers a syntax error the usual way.
        Err(_) => (None, Validation::default(), false),
    };
    crate::metrics::record_graphql_operation(info.map(|i| i.operation_type));
    if method == Method::GET && info.is_some_and(|i| i.operation_type != OperationType::Query) {
        return method_not_allowed();
    }
    let public = info.is_some_and(|i| i.public);
    crate::metrics::record_authentication(&authenticated, public);
    // The principal moves out of the result here, not cloned.
    let principal = authenticated.ok().and_then(Result::ok);
    if let Some(reason) = failure
        && !public
    {
        tracing::info!(reason = reason.as_str(), "authentication failed");
        return refuse_anonymous(&state.app, client, token_was_sent).await;
    }
    if let Some(principal) = &principal {
        state.app.last_used.record(principal, client, now);
        tracing::debug!(
            kind = ?principal.kind,
            token_id = %principal.token_id,
            organization_id = %principal.organization_id(),
            "authenticated"
        );
    }
    if nul_in_literals || operation::has_nul_in_variables(&gql_request.variables) {
        return bad_user_input(
            "a string argument contains a NUL character (U+0000), which lynk does not accept \
             anywhere; remove it",
            headers,
        );
    }

    let validated = validation.is_proven();
    let introspection = info.is_some_and(|i| i.introspection);
    let schema = state
        .schemas
        .for_request(principal.is_some(), validated, introspection);
    let context = RequestContext {
        principal,
        client_ip: Some(client),
        request_id: request_id.clone(),
    };
    let mut response = REQUEST_ID
        .scope(request_id, schema.execute(gql_request.data(context)))
        .await;
    if !validated {
        validation.learn(&response);
    }
    null_errored_fields(&mut response);
    if has_error_code(&response, "UNAUTHORIZED") {
        return unauthorized(false);
    }
    if let Some(retry_after) = retry_after(&response) {
        let mut answer = graphql_response(StatusCode::TOO_MANY_REQUESTS, &response, headers);
        answer
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        return answer;
    }
    graphql_response(StatusCode::OK, &response, headers)
}

/// The answer to a caller without a valid credential on anything but a
/// public operation: 401, or 429 once its address has spent its budget of
/// failures (requests without any credential count too). A credential
/// that verifies is never refused for its address's failures.
async fn refuse_anonymous(app: &AppState, client: IpAddr, token_was_sent: bool) -> Response {
    let limits = &app.rate_limits;
    let counted = limits
        .counts
        .record_failure(limits.budgets.auth_per_ip, &client.to_string(), Utc::now())
        .await;
    match counted {
        Ok(Ok(())) => unauthorized(token_was_sent),
        Ok(Err(exhausted)) => {
            tracing::warn!(%client, "too many failed authentications");
            rate_limited(retry_after_secs(exhausted.retry_after))
        }
        Err(err) => {
            // Never fail open into execution; the 401 stands.
            let _: async_graphql::Error = err.into();
            unauthorized(token_was_sent)
        }
    }
}

/// A request-level internal error: logged with the request id, generic
/// to the client.
fn internal_error(err: crate::error::Error, request_id: String, headers: &HeaderMap) -> Response {
    let gql: async_graphql::Error = REQUEST_ID.sync_scope(request_id, || err.into());
    let body = async_graphql::Response::from_errors(vec![
        gql.into_server_error(async_graphql::Pos::default()),
    ]);
    graphql_response(StatusCode::INTERNAL_SERVER_ERROR, &body, headers)
}

/// Why the request could not be read.
enum Rejected {
    /// A caller without a valid credential sent more than
    /// [`ANONYMOUS_BODY_LIMIT`]: no public operation is that large.
    AnonymousTooLarge,
    /// Anything else, answered as it is.
    Response(Response),
}

/// Reads the GraphQL request: from the query string on `GET`; from the body
/// otherwise, as JSON or as a multipart upload (the GraphQL multipart
/// request spec, what `curl -F` sends) whose files may be at most
/// `max_file_bytes`. async-graphql-axum's extractor cannot take multipart
/// options, hence the body is read here. A body over a limit is a 413;
/// with `anonymous_limit`, a body over it is refused before it is read
/// when its `Content-Length` says so, or as soon as the limit is passed.
async fn receive_request(
    parts: &Parts,
    body: Body,
    max_file_bytes: usize,
    anonymous_limit: Option<usize>,
) -> Result<async_graphql::Request, Rejected> {
    use std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    };

    use async_graphql::{
        ParseRequestError,
        futures_util::TryStreamExt,
        http::{MultipartOptions, receive_body},
    };
    use async_graphql_axum::rejection::GraphQLRejection;

    if parts.method == Method::GET {
        // A rare path: copying the head here keeps the common one copy-free.
        let request = Request::from_parts(parts.clone(), body);
        return GraphQLRequest::<GraphQLRejection>::from_request(request, &())
            .await
            .map(GraphQLRequest::into_inner)
            .map_err(|rejection| Rejected::Response(bad_request(&rejection.0, &parts.headers)));
    }
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
                Ok(bytes) => Body::from(bytes),
                Err(_) => return Err(Rejected::AnonymousTooLarge),
            }
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
    match receive_body(content_type, body, options).await {
        Ok(request) => Ok(request),
        Err(ParseRequestError::PayloadTooLarge) => {
            Err(Rejected::Response(payload_too_large(max_file_bytes)))
        }
        Err(_) if over_limit.load(Ordering::Relaxed) => {
            Err(Rejected::Response(payload_too_large(max_file_bytes)))
        }
        Err(err) => Err(Rejected::Response(bad_request(&err, &parts.headers))),
    }
}

/// HTTP 400 for a body that is not a GraphQL request (malformed JSON, a
/// broken multipart upload), as a GraphQL `errors` body. The parser's
/// message says where it went wrong; it is cut short, since it may quote
/// the input.
fn bad_request(err: &async_graphql::ParseRequestError, request_headers: &HeaderMap) -> Response {
    let mut reason = err.to_string();
    if let Some((cut, _)) = reason.char_indices().nth(200) {
        reason.truncate(cut);
        reason.push('…');
    }
    let message = format!(
        "the request is not a GraphQL request ({reason}); POST JSON such as \
         {{\"query\": \"query {{ organization {{ id name }} }}\"}}"
    );
    error_response(
        StatusCode::BAD_REQUEST,
        &message,
        "BAD_REQUEST",
        request_headers,
    )
}

/// HTTP 413 for a query text over [`MAX_QUERY_BYTES`].
fn query_too_large(length: usize, request_headers: &HeaderMap) -> Response {
    let message = format!(
        "the query text is {length} bytes; at most {MAX_QUERY_BYTES} are accepted. Send large \
         values (SBOM documents) in variables or as a multipart upload"
    );
    error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        &message,
        "QUERY_TOO_LARGE",
        request_headers,
    )
}

/// `BAD_USER_INPUT` for the whole request (DESIGN §4: status 200).
fn bad_user_input(message: &str, request_headers: &HeaderMap) -> Response {
    error_response(StatusCode::OK, message, "BAD_USER_INPUT", request_headers)
}

/// `{"errors":[{"message", "extensions":{"code"}}]}` with `status`.
fn error_response(
    status: StatusCode,
    message: &str,
    code: &str,
    request_headers: &HeaderMap,
) -> Response {
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": code } }]
    });
    json_response(status, body.to_string(), request_headers)
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

/// HTTP 413, in the plain-text shape of `RequestBodyLimitLayer`'s own,
/// naming the SBOM size limit.
fn payload_too_large(max_sbom_bytes: usize) -> Response {
    let body = format!(
        "length limit exceeded: an SBOM document may be at most {max_sbom_bytes} bytes \
         (the body of a request at most {} bytes)",
        crate::startup::body_limit(max_sbom_bytes)
    );
    let mut response = (StatusCode::PAYLOAD_TOO_LARGE, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// async-graphql leaves a failed field out of `data`; DESIGN §4 promises
/// the field itself as `null` (FORBIDDEN is field-level), so clients can
/// tell "denied" from "not asked for".
fn null_errored_fields(response: &mut async_graphql::Response) {
    use async_graphql::{PathSegment, Value};
    for error in &response.errors {
        let Some((PathSegment::Field(last), parents)) = error.path.split_last() else {
            continue;
        };
        let Some(parent) = walk(&mut response.data, parents) else {
            continue;
        };
        if let Value::Object(map) = parent {
            map.entry(async_graphql::Name::new(last))
                .or_insert(Value::Null);
        }
    }
}

fn walk<'a>(
    value: &'a mut async_graphql::Value,
    path: &[async_graphql::PathSegment],
) -> Option<&'a mut async_graphql::Value> {
    use async_graphql::{PathSegment, Value};
    let Some((first, rest)) = path.split_first() else {
        return Some(value);
    };
    let next = match (value, first) {
        (Value::Object(map), PathSegment::Field(name)) => map.get_mut(name.as_str())?,
        (Value::List(list), PathSegment::Index(i)) => list.get_mut(*i)?,
        _ => return None,
    };
    walk(next, rest)
}

/// A browser asking for the page (not a GraphQL GET) gets GraphiQL.
fn wants_graphiql(headers: &HeaderMap, query: Option<&str>) -> bool {
    let has_graphql_query = query.is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.starts_with("query=") || pair == "query")
    });
    let accepts_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    accepts_html && !has_graphql_query
}

/// `Retry-After` seconds of a `RATE_LIMITED` error, if the response has one.
fn retry_after(response: &async_graphql::Response) -> Option<u64> {
    response.errors.iter().find_map(|err| {
        let extensions = err.extensions.as_ref()?;
        if extensions.get("code")? != &async_graphql::Value::from("RATE_LIMITED") {
            return None;
        }
        match extensions.get("retryAfter")? {
            async_graphql::Value::Number(n) => n.as_u64(),
            _ => None,
        }
    })
}

/// POST bodies must be GraphQL JSON (or a multipart upload).
fn is_supported_media_type(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "application/json"
            | "application/graphql-response+json"
            | "application/graphql"
            | "multipart/form-data"
    )
}

fn unsupported_media_type() -> Response {
    let body = r#"{"errors":[{"message":"Unsupported media type: POST a JSON body with Content-Type: application/json (or multipart/form-data for uploads)","extensions":{"code":"UNSUPPORTED_MEDIA_TYPE"}}]}"#;
    let mut response = (StatusCode::UNSUPPORTED_MEDIA_TYPE, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// HTTP 429 before execution, for a client over its failure budget.
fn rate_limited(retry_after: u64) -> Response {
    let body = format!(
        r#"{{"errors":[{{"message":"Too many failed attempts; retry after {retry_after} seconds","extensions":{{"code":"RATE_LIMITED","retryAfter":{retry_after}}}}}]}}"#
    );
    let mut response = (StatusCode::TOO_MANY_REQUESTS, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

fn has_error_code(response: &async_graphql::Response, code: &str) -> bool {
    response.errors.iter().any(|err| {
        err.extensions
            .as_ref()
            .and_then(|ext| ext.get("code"))
            .is_some_and(|value| *value == async_graphql::Value::from(code))
    })
}

/// HTTP 401 with the exact body and `WWW-Authenticate` of DESIGN §4.
pub fn unauthorized(token_was_sent: bool) -> Response {
    let challenge = if token_was_sent {
        r#"Bearer realm="lynk", error="invalid_token""#
    } else {
        r#"Bearer realm="lynk""#
    };
    let mut response = (StatusCode::UNAUTHORIZED, UNAUTHORIZED_BODY).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

fn method_not_allowed() -> Response {
    let body = r#"{"errors":[{"message":"Mutations must use POST","extensions":{"code":"METHOD_NOT_ALLOWED"}}]}"#;
    let mut response = (StatusCode::METHOD_NOT_ALLOWED, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// The media type the client accepts: `application/graphql-response+json`
/// when asked for, else `application/json` (GraphQL over HTTP).
fn response_media_type(request_headers: &HeaderMap) -> &'static str {
    let accept = request_headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("application/graphql-response+json") {
        "application/graphql-response+json"
    } else {
        "application/json"
    }
}

fn json_response(status: StatusCode, body: String, request_headers: &HeaderMap) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(response_media_type(request_headers)),
    );
    response
}

fn graphql_response(
    status: StatusCode,
    response: &async_graphql::Response,
    request_headers: &HeaderMap,
) -> Response {
    match serde_json::to_string(response) {
        Ok(body) => json_response(status, body, request_headers),
        Err(err) => {
            tracing::error!(error = %err, "could not serialize a GraphQL response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
