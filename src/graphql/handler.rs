//! The `/lynkapi` endpoint: the context guard.
//!
//! Reads `Authorization` and `X-Organization-ID`, resolves the principal
//! once, and answers 401/403 before any resolver runs (introspection
//! included) unless the operation touches only public fields. Then it
//! attaches the principal to the GraphQL request and executes it.

use std::net::SocketAddr;

use async_graphql::{http::GraphiQLSource, parser::types::OperationType};
use async_graphql_axum::GraphQLRequest;
use axum::{
    body::Body,
    extract::{ConnectInfo, FromRequest, Request, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use chrono::Utc;

use super::{LynkSchema, context::RequestContext, operation};
use crate::{
    auth::{
        AuthFailure,
        credential::{PresentedCredential, presented_credential, requested_organization},
        verify::{authenticate, touch_last_used},
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

/// What the handler needs besides the request.
#[derive(Clone)]
pub struct GraphqlState {
    pub app: AppState,
    pub schema: LynkSchema,
}

/// `GET` and `POST /lynkapi`.
pub async fn graphql(
    State(state): State<GraphqlState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let method = request.method().clone();
    let headers = request.headers().clone();
    if method == Method::GET && wants_graphiql(&headers, request.uri().query()) {
        return Html(GraphiQLSource::build().endpoint("/lynkapi").finish()).into_response();
    }
    let gql_request =
        match GraphQLRequest::<async_graphql_axum::rejection::GraphQLRejection>::from_request(
            request,
            &(),
        )
        .await
        {
            Ok(req) => req.into_inner(),
            Err(rejection) => return rejection.into_response(),
        };
    let request_id = headers
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);

    let info = operation::analyze(&gql_request.query, gql_request.operation_name.as_deref());
    if method == Method::GET && info.is_some_and(|i| i.operation_type != OperationType::Query) {
        return method_not_allowed();
    }
    let public = info.is_some_and(|i| i.public);

    let presented = presented_credential(headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()));
    let requested = requested_organization(headers.get(ORGANIZATION_HEADER).map(|v| v.as_bytes()));
    let now = Utc::now();
    let principal = match authenticate(&state.app.db, presented, requested, now).await {
        Ok(Ok(principal)) => {
            touch_last_used(state.app.db.clone(), &principal, now);
            Some(principal)
        }
        Ok(Err(_)) if public => None,
        Ok(Err(AuthFailure::Unauthorized(reason))) => {
            tracing::info!(reason = reason.as_str(), "authentication failed");
            return unauthorized(matches!(presented, PresentedCredential::Candidate(_)));
        }
        Ok(Err(AuthFailure::Forbidden)) => {
            tracing::info!("credential may not act in the requested organization");
            return json_response(StatusCode::FORBIDDEN, FORBIDDEN_BODY.to_owned(), &headers);
        }
        Err(err) => {
            let gql: async_graphql::Error =
                REQUEST_ID.sync_scope(request_id.clone(), || err.into());
            let body = async_graphql::Response::from_errors(vec![
                gql.into_server_error(async_graphql::Pos::default()),
            ]);
            return graphql_response(StatusCode::INTERNAL_SERVER_ERROR, &body, &headers);
        }
    };
    if let Some(principal) = &principal {
        tracing::debug!(
            kind = ?principal.kind,
            token_id = %principal.token_id,
            organization_id = %principal.organization_id(),
            "authenticated"
        );
    }

    let context = RequestContext {
        principal,
        client_ip: Some(peer.ip().to_string()),
        request_id: request_id.clone(),
    };
    let mut response = REQUEST_ID
        .scope(request_id, state.schema.execute(gql_request.data(context)))
        .await;
    null_errored_fields(&mut response);
    if has_error_code(&response, "UNAUTHORIZED") {
        return unauthorized(false);
    }
    graphql_response(StatusCode::OK, &response, &headers)
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
