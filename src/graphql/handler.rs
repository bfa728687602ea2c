//! `GET` and `POST /lynkapi`: GraphQL over HTTP.
//!
//! The request check is [`auth::guard`]'s; this module reads the request
//! (JSON, a query string, or a multipart upload), lets an anonymous caller
//! run only public operations, executes, and answers with the status and
//! media type GraphQL over HTTP asks for. Every error renders itself
//! (`IntoResponse` on [`Error`] and [`AuthRejection`]); the status of an
//! executed request comes from the typed errors met during execution
//! ([`RequestScope`]), never from reading the finished response.

use std::{net::SocketAddr, sync::Arc};

use async_graphql::{ServerError, parser::types::OperationType};
use axum::{
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};

use super::{
    Schemas, aliases,
    context::RequestContext,
    document_cache::DocumentCache,
    limits::ResolvedObjects,
    loader::{self, RequestLoader},
    null_rule, operation,
    request_body::{Rejected, is_supported_media_type, receive_request},
    response_order,
};
use crate::{
    auth::guard::{AuthRejection, Caller, Guard},
    config::{ANONYMOUS_BODY_LIMIT, MAX_QUERY_BYTES},
    error::{Error, ErrorsBody, Escalation, REQUEST, RequestScope},
    state::AppState,
    telemetry::REQUEST_ID,
};

/// What the handler needs besides the request. Shared behind an `Arc`:
/// axum clones the state for every request.
pub struct GraphqlState {
    pub app: AppState,
    pub guard: Guard,
    pub schemas: Schemas,
    pub documents: DocumentCache,
}

/// `GET` and `POST /lynkapi`.
pub async fn graphql(
    State(state): State<Arc<GraphqlState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let media_type = MediaType::accepted_by(&parts.headers);
    // Boxed, as are the larger steps inside it: a future is moved by value
    // through every layer that wraps it, and these are kilobytes.
    let mut response = Box::pin(serve(&state, parts, body, peer, media_type)).await;
    media_type.label(&mut response);
    response
}

async fn serve(
    state: &GraphqlState,
    parts: Parts,
    body: Body,
    peer: SocketAddr,
    media_type: MediaType,
) -> Response {
    let method = &parts.method;
    if method == Method::GET && super::graphiql::is_wanted(&parts.headers, parts.uri.query()) {
        return super::graphiql::page();
    }
    if method == Method::POST && !is_supported_media_type(&parts.headers) {
        return Error::UnsupportedMediaType.into_response();
    }
    let request_id = parts
        .headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);

    // The credential is decided from the head, before the body is read: a
    // caller without a valid one gets a small body limit, and its document
    // is parsed only to see whether it is a public operation.
    let checked = match state.guard.authenticate(&parts, peer).await {
        Ok(checked) => checked,
        Err(rejection) => {
            crate::metrics::record_authentication(rejection.labels());
            return REQUEST.sync_scope(RequestScope::new(request_id), || rejection.into_response());
        }
    };
    let client = checked.client;
    let anonymous = match &checked.caller {
        Caller::Principal(_) => None,
        Caller::Anonymous(anonymous) => Some(*anonymous),
    };
    let body_limit = anonymous.is_some().then_some(ANONYMOUS_BODY_LIMIT);
    let mut request =
        match receive_request(&parts, body, state.app.max_sbom_bytes, body_limit).await {
            Ok(request) => request,
            Err(Rejected::AnonymousTooLarge) => {
                crate::metrics::record_authentication(checked.labels(false));
                return match anonymous {
                    Some(anonymous) => anonymous.refuse(&state.guard, client).await.into_response(),
                    None => Error::PayloadTooLarge {
                        max_sbom_bytes: state.app.max_sbom_bytes,
                    }
                    .into_response(),
                };
            }
            Err(Rejected::Error(err)) => return err.into_response(),
        };
    if request.query.len() > MAX_QUERY_BYTES {
        return Error::QueryTooLarge(format!(
            "the query text is {} bytes; at most {MAX_QUERY_BYTES} are accepted. Send large \
             values (SBOM documents) in variables or as a multipart upload",
            request.query.len()
        ))
        .into_response();
    }

    // Parsed once here (or taken from the cache); execution reuses the parse.
    let operation_name = request.operation_name.clone();
    let missing_query = request.query.trim().is_empty();
    let may_hold_nul = request.query.contains('\0') || request.query.contains("\\u");
    let parsed = state.documents.parse(&mut request);
    let (info, nul_in_literals) = match &parsed {
        Ok((document, _)) => (
            operation::analyze(document, operation_name.as_deref()),
            may_hold_nul && operation::has_nul_in_literals(document),
        ),
        Err(_) => (None, false),
    };
    let public = info.is_some_and(|i| i.public);
    crate::metrics::record_authentication(checked.labels(public));
    let principal = match (checked.caller, anonymous) {
        (Caller::Principal(principal), _) => Some(principal),
        (Caller::Anonymous(_), Some(anonymous)) if !public => {
            return anonymous.refuse(&state.guard, client).await.into_response();
        }
        (Caller::Anonymous(_), _) => None,
    };
    crate::metrics::record_graphql_operation(info.map(|i| i.operation_type));
    let (document, validation) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => {
            return request_errors(media_type, vec![err], "GRAPHQL_PARSE_FAILED", missing_query);
        }
    };
    // A proven document passed this check before it was first executed.
    if !validation.is_proven()
        && let Err(refusal) = aliases::check(document)
    {
        return request_errors(
            media_type,
            vec![ServerError::new(refusal, None)],
            "GRAPHQL_VALIDATION_FAILED",
            false,
        );
    }
    // The document, for ordering the response: execution takes the
    // request's own, so one that is not cached is kept here.
    let owned_document = validation.document().is_none().then(|| document.clone());
    if method == Method::GET && info.is_some_and(|i| i.operation_type != OperationType::Query) {
        return Error::MethodNotAllowed.into_response();
    }
    if let Some(principal) = &principal {
        tracing::debug!(
            kind = ?principal.kind,
            token_id = %principal.token_id,
            organization_id = %principal.organization_id(),
            "authenticated"
        );
    }
    if nul_in_literals || operation::has_nul_in_variables(&request.variables) {
        return Error::bad_input(
            "a string argument contains a NUL character (U+0000), which lynk does not accept \
             anywhere; remove it",
        )
        .into_response();
    }

    let validated = validation.is_proven();
    let introspection = info.is_some_and(|i| i.introspection);
    let schema = state
        .schemas
        .for_request(principal.is_some(), validated, introspection);
    let principal = principal.map(std::sync::Arc::new);
    let granted_to = principal.clone();
    let context = RequestContext {
        principal,
        client_ip: Some(client),
        request_id: request_id.clone(),
        resolved: ResolvedObjects::new(state.schemas.limits().resolved_objects),
    };
    let (mut response, escalation) = REQUEST
        .scope(RequestScope::new(request_id), async {
            // The request's row loader, its batches held for the window.
            let request = request.data(context).data(RequestLoader::default());
            let response = Box::pin(loader::in_window(schema.execute(request))).await;
            (response, REQUEST.with(RequestScope::escalation))
        })
        .await;
    if let Some(principal) = &granted_to {
        state.guard.record_granted(principal, checked.at);
    }
    if !validated {
        validation.learn(&response);
    }
    match escalation {
        Some(Escalation::Unauthorized) => {
            return AuthRejection::Unauthorized {
                token_was_sent: false,
            }
            .into_response();
        }
        Some(Escalation::RateLimited { retry_after_secs }) => {
            let mut answer = graphql_response(StatusCode::TOO_MANY_REQUESTS, &response);
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            return answer;
        }
        Some(Escalation::Overloaded { retry_after_secs }) => {
            let mut answer = graphql_response(StatusCode::SERVICE_UNAVAILABLE, &response);
            answer
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            return answer;
        }
        None => {}
    }
    if is_request_error(&response) {
        // Validation or variable coercion failed: nothing was executed.
        return request_errors(
            media_type,
            response.errors,
            "GRAPHQL_VALIDATION_FAILED",
            false,
        );
    }
    if let Some(document) = validation.document().or(owned_document.as_ref()) {
        if !response.errors.is_empty() {
            null_rule::apply(
                state.schemas.field_types(),
                document,
                operation_name.as_deref(),
                &response.errors,
                &mut response.data,
            );
        }
        response_order::reorder(document, operation_name.as_deref(), &mut response.data);
    }
    graphql_response(StatusCode::OK, &response)
}

/// Whether execution never started: GraphQL's "request error", a response
/// without data whose errors belong to no field (validation and variable
/// coercion failures).
fn is_request_error(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|err| err.path.is_empty())
}

/// A request error (a document that does not parse or validate): its
/// errors, each with `code` unless it has one, and no `data`. The status is
/// 400 for `application/graphql-response+json` and for a request without
/// a query, 200 for `application/json` (GraphQL over HTTP).
fn request_errors(
    media_type: MediaType,
    mut errors: Vec<ServerError>,
    code: &str,
    missing_query: bool,
) -> Response {
    if missing_query {
        return Error::BadRequest(
            "the request has no query: send one, e.g. {\"query\": \"query { organization { id name } }\"}"
                .to_owned(),
        )
        .into_response();
    }
    for error in &mut errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", code);
        }
    }
    let status = match media_type {
        MediaType::GraphqlResponseJson => StatusCode::BAD_REQUEST,
        MediaType::Json => StatusCode::OK,
    };
    ErrorsBody { errors: &errors }.into_response_with(status)
}

/// The media type of the JSON answers: `application/graphql-response+json`
/// when the client accepts it, else `application/json` (GraphQL over HTTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
    GraphqlResponseJson,
    Json,
}

impl MediaType {
    fn accepted_by(request_headers: &HeaderMap) -> MediaType {
        let accepts = request_headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("application/graphql-response+json"));
        if accepts {
            MediaType::GraphqlResponseJson
        } else {
            MediaType::Json
        }
    }

    /// Labels a JSON answer with this media type.
    fn label(self, response: &mut Response) {
        if self == MediaType::GraphqlResponseJson
            && response.headers().get(header::CONTENT_TYPE)
                == Some(&HeaderValue::from_static("application/json"))
        {
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/graphql-response+json"),
            );
        }
    }
}

/// A GraphQL response as JSON with `status`.
fn graphql_response(status: StatusCode, response: &async_graphql::Response) -> Response {
    match serde_json::to_vec(response) {
        Ok(body) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "could not serialize a GraphQL response");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
