//! `GET` and `POST /lynkapi`: GraphQL over HTTP.
//!
//! The request check is [`auth::guard`]'s; this module reads the request
//! (JSON, a query string, or a multipart upload), lets an anonymous caller
//! run only public operations, executes, and answers with the status and
//! media type GraphQL over HTTP asks for. Every error renders itself
//! (`IntoResponse` on [`Error`] and [`AuthRejection`]); the status of an
//! executed request comes from the typed errors met during execution
//! ([`RequestScope`]), never from reading the finished response.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use async_graphql::{
    ServerError,
    parser::types::{ExecutableDocument, OperationType},
};
use axum::{
    body::Body,
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};

use super::{
    document_cache::{DocumentCache, Validation},
    operation,
    request_body::{Rejected, is_supported_media_type, receive_request, too_large},
};
use crate::{
    auth::{
        Principal,
        guard::{Admission, AuthRejection, Authenticated, Guard},
    },
    config::{ANONYMOUS_BODY_LIMIT, MAX_QUERY_BYTES},
    error::{Error, ErrorsBody, Escalation, REQUEST, RequestScope},
    graphql::{
        Schemas,
        schema::{
            aliases,
            context::RequestContext,
            limits::ResolvedObjects,
            loader::{self, RequestLoader},
            null_rule, response_order,
        },
    },
    state::AppState,
};
use tower_http::request_id::RequestId;

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

/// The request's four steps; each either hands the next what it needs or
/// answers the request itself.
async fn serve(
    state: &GraphqlState,
    parts: Parts,
    body: Body,
    peer: SocketAddr,
    media_type: MediaType,
) -> Response {
    let request_id = parts
        .extensions
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or_default();
    let prepared = match prepare(state, &parts, body, peer, request_id).await {
        Ok(prepared) => prepared,
        Err(answer) => return answer,
    };
    let admitted = match admit(state, &parts.method, prepared, media_type).await {
        Ok(admitted) => admitted,
        Err(answer) => return answer,
    };
    let executed = Box::pin(execute(state, admitted, request_id.to_owned())).await;
    respond(state, media_type, executed)
}

/// A request whose credential was checked and whose body was read.
struct Prepared {
    checked: Authenticated,
    request: async_graphql::Request,
}

/// A request allowed to execute, with its principal (`None` for a public
/// operation) and what the response's ordering needs of its document.
struct Admitted {
    request: async_graphql::Request,
    principal: Option<Arc<Principal>>,
    client: IpAddr,
    /// When the credential was checked.
    at: DateTime<Utc>,
    operation_name: Option<String>,
    introspection: bool,
    validation: Validation,
    /// The document, when the cache does not hold it: execution takes the
    /// request's own.
    owned_document: Option<ExecutableDocument>,
}

/// An executed request.
struct Executed {
    response: async_graphql::Response,
    escalation: Option<Escalation>,
    operation_name: Option<String>,
    validation: Validation,
    owned_document: Option<ExecutableDocument>,
}

/// GraphiQL, the media type, the credential (from the head alone, before
/// the body is read: a caller without a valid one gets a small body limit),
/// the body, and the query's size.
async fn prepare(
    state: &GraphqlState,
    parts: &Parts,
    body: Body,
    peer: SocketAddr,
    request_id: &str,
) -> Result<Prepared, Response> {
    let method = &parts.method;
    if method == Method::GET && super::graphiql::is_wanted(&parts.headers, parts.uri.query()) {
        return Err(super::graphiql::page());
    }
    if method == Method::POST && !is_supported_media_type(&parts.headers) {
        return Err(Error::UnsupportedMediaType.into_response());
    }
    let checked = match state.guard.authenticate(parts, peer).await {
        Ok(checked) => checked,
        Err(rejection) => {
            crate::metrics::record_authentication(rejection.labels());
            // In the request's scope: an internal error names its id.
            let scope = RequestScope::new(request_id.to_owned());
            return Err(REQUEST.sync_scope(scope, || rejection.into_response()));
        }
    };
    let body_limit = checked.is_anonymous().then_some(ANONYMOUS_BODY_LIMIT);
    let request = match receive_request(parts, body, state.app.max_sbom_bytes, body_limit).await {
        Ok(request) => request,
        Err(Rejected::AnonymousTooLarge) => {
            crate::metrics::record_authentication(checked.labels(false));
            let client = checked.client;
            return Err(match checked.admit(false) {
                Admission::Refused(anonymous) => {
                    anonymous.refuse(&state.guard, client).await.into_response()
                }
                Admission::Principal(_) | Admission::Public => {
                    too_large(state.app.max_sbom_bytes).into_response()
                }
            });
        }
        Err(Rejected::Error(err)) => return Err(err.into_response()),
    };
    if request.query.len() > MAX_QUERY_BYTES {
        return Err(Error::QueryTooLarge(format!(
            "the query text is {} bytes; at most {MAX_QUERY_BYTES} are accepted. Send large \
             values (SBOM documents) in variables or as a multipart upload",
            request.query.len()
        ))
        .into_response());
    }
    Ok(Prepared { checked, request })
}

/// The document (parsed once, or taken from the cache), the caller's
/// admission to its operation ([`Authenticated::admit`]: an anonymous
/// caller runs only public operations), and the checks that need the
/// document: aliases, the method, NUL characters.
async fn admit(
    state: &GraphqlState,
    method: &Method,
    prepared: Prepared,
    media_type: MediaType,
) -> Result<Admitted, Response> {
    let Prepared {
        checked,
        mut request,
    } = prepared;
    let client = checked.client;
    let at = checked.at;
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
    let principal = match checked.admit(public) {
        Admission::Principal(principal) => Some(principal),
        Admission::Public => None,
        Admission::Refused(anonymous) => {
            return Err(anonymous.refuse(&state.guard, client).await.into_response());
        }
    };
    crate::metrics::record_graphql_operation(info.map(|i| i.operation_type));
    let (document, validation) = match parsed {
        Ok(parsed) => parsed,
        Err(err) => {
            return Err(request_errors(
                media_type,
                vec![err],
                "GRAPHQL_PARSE_FAILED",
                missing_query,
            ));
        }
    };
    // A proven document passed this check before it was first executed.
    if !validation.is_proven()
        && let Err(refusal) = aliases::check(document)
    {
        return Err(request_errors(
            media_type,
            vec![ServerError::new(refusal, None)],
            "GRAPHQL_VALIDATION_FAILED",
            false,
        ));
    }
    let owned_document = validation.document().is_none().then(|| document.clone());
    if method == Method::GET && info.is_some_and(|i| i.operation_type != OperationType::Query) {
        return Err(Error::MethodNotAllowed.into_response());
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
        return Err(Error::bad_input(
            "a string argument contains a NUL character (U+0000), which lynk does not accept \
             anywhere; remove it",
        )
        .into_response());
    }
    Ok(Admitted {
        request,
        principal,
        client,
        at,
        operation_name,
        introspection: info.is_some_and(|i| i.introspection),
        validation,
        owned_document,
    })
}

/// Runs the operation in the request's scope (where typed errors ask for
/// a request-level status) and its loader's batch window.
async fn execute(state: &GraphqlState, admitted: Admitted, request_id: String) -> Executed {
    let Admitted {
        request,
        principal,
        client,
        at,
        operation_name,
        introspection,
        validation,
        owned_document,
    } = admitted;
    let schema =
        state
            .schemas
            .for_request(principal.is_some(), validation.is_proven(), introspection);
    let granted_to = principal.clone();
    let context = RequestContext {
        principal,
        client_ip: Some(client),
        resolved: ResolvedObjects::new(state.schemas.limits().resolved_objects),
    };
    let (response, escalation) = REQUEST
        .scope(RequestScope::new(request_id), async {
            let request = request.data(context).data(RequestLoader::default());
            let response = Box::pin(loader::in_window(schema.execute(request))).await;
            (response, REQUEST.with(RequestScope::escalation))
        })
        .await;
    if let Some(principal) = &granted_to {
        state.guard.record_granted(principal, at);
    }
    if !validation.is_proven() {
        validation.learn(&response);
    }
    Executed {
        response,
        escalation,
        operation_name,
        validation,
        owned_document,
    }
}

/// The answer: a request-level status an error asked for, a request error,
/// or the response with GraphQL's rule for failed fields applied and its
/// keys in the operation's order.
fn respond(state: &GraphqlState, media_type: MediaType, executed: Executed) -> Response {
    let Executed {
        mut response,
        escalation,
        operation_name,
        validation,
        owned_document,
    } = executed;
    let retry_after = |status: StatusCode, retry_after_secs: u64| {
        let mut answer = graphql_response(status, &response);
        answer
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        answer
    };
    match escalation {
        Some(Escalation::Unauthorized) => {
            return AuthRejection::Unauthorized {
                token_was_sent: false,
            }
            .into_response();
        }
        Some(Escalation::RateLimited { retry_after_secs }) => {
            return retry_after(StatusCode::TOO_MANY_REQUESTS, retry_after_secs);
        }
        Some(Escalation::Overloaded { retry_after_secs }) => {
            return retry_after(StatusCode::SERVICE_UNAVAILABLE, retry_after_secs);
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
