//! SBOMs: the `sbom(id)` query, and uploading (inline
//! JSON or a multipart file, as `curl -F` sends it) and deleting documents.
//!
//! Reading a document is `service::sbom_document`'s job, storing it
//! (idempotently, by SHA-256) `service::sbom`'s; this module authorizes,
//! reads multipart files and wraps the results.

use std::io::Read;

use async_graphql::{Context, ID, InputObject, Object, Upload};

use super::{context::ContextExt, project::sbom::Sbom, role::parse_id};
use crate::{
    auth::Permission,
    entity::sbom,
    error::Error,
    service::{
        sbom::{self as sbom_service, NewSbom},
        sbom_document::{self},
        scoped::find_reachable,
    },
};

/// `sbom(id)`.
#[derive(Default)]
pub struct SbomQuery;

#[Object]
impl SbomQuery {
    /// An SBOM of the caller's organization (needs `sboms:read`).
    async fn sbom(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Sbom>, Error> {
        let viewer = ctx.viewer()?;
        viewer.require(Permission::SbomsRead)?;
        let sbom_id = parse_id(&id, "sbom")?;
        let model = find_reachable::<sbom::Entity>(ctx.db()?, &viewer, sbom_id).await?;
        Sbom::reached(&viewer, model).map(Some)
    }
}

/// `uploadSbom`'s input.
#[derive(InputObject)]
pub struct UploadSbomInput {
    pub project_id: ID,
    /// Defaults to the document's own name, else `sbom`.
    pub name: Option<String>,
    /// A CycloneDX JSON (specVersion 1.2 or later) or SPDX JSON
    /// (SPDX-2.2, SPDX-2.3) document, as text.
    pub document: String,
}

/// `uploadSbom`, `uploadSbomFile`, `deleteSbom`.
#[derive(Default)]
pub struct SbomMutation;

#[Object]
impl SbomMutation {
    /// Uploads a document into a project (needs `sboms:write`). The same
    /// document uploaded to the same project again returns the existing
    /// SBOM, so a retried CI step creates no duplicate.
    async fn upload_sbom(&self, ctx: &Context<'_>, input: UploadSbomInput) -> Result<Sbom, Error> {
        let caller = ctx.authorized(Permission::SbomsWrite)?;
        let new = NewSbom {
            project_id: parse_id(&input.project_id, "project")?,
            name: input.name,
            document: input.document,
        };
        let model = sbom_service::upload(ctx.app()?, &caller, new).await?;
        Sbom::written(&ctx.viewer()?, model)
    }

    /// `uploadSbom` for a file sent as a GraphQL multipart request, as
    /// `curl -F operations=… -F map=… -F 0=@bom.json` does.
    async fn upload_sbom_file(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        file: Upload,
        name: Option<String>,
    ) -> Result<Sbom, Error> {
        let caller = ctx.authorized(Permission::SbomsWrite)?;
        let project_id = parse_id(&project_id, "project")?;
        let app = ctx.app()?;
        let max_bytes = app.max_sbom_bytes;
        // `Upload::value` indexes the request's files and would panic on a
        // `file` that names none (an inline "#__graphql_file__:N" literal
        // or a JSON request), so check first.
        if file.0 >= ctx.query_env.uploads.len() {
            return Err(Error::bad_input(
                "`file` must be a file part of a multipart request (the GraphQL multipart \
                 request spec: -F operations=… -F map=… -F 0=@bom.json)",
            ));
        }
        let upload = file.value(ctx).map_err(Error::internal)?;
        sbom_document::check_size(upload.size().map_err(Error::internal)?, max_bytes)?;
        // The upload is a temporary file: read it off the async runtime.
        let bytes = tokio::task::spawn_blocking(move || {
            let mut bytes = Vec::new();
            upload
                .into_read()
                .take(
                    u64::try_from(max_bytes)
                        .unwrap_or(u64::MAX)
                        .saturating_add(1),
                )
                .read_to_end(&mut bytes)
                .map(|_| bytes)
        })
        .await
        .map_err(Error::internal)?
        .map_err(Error::internal)?;
        let new = NewSbom {
            project_id,
            name,
            document: sbom_document::decode(bytes)?,
        };
        let model = sbom_service::upload(app, &caller, new).await?;
        Sbom::written(&ctx.viewer()?, model)
    }

    /// Deletes an SBOM (needs `sboms:delete`).
    async fn delete_sbom(&self, ctx: &Context<'_>, id: ID) -> Result<ID, Error> {
        let caller = ctx.authorized(Permission::SbomsDelete)?;
        let sbom_id = parse_id(&id, "sbom")?;
        sbom_service::delete(ctx.db()?, &caller, sbom_id).await?;
        Ok(ID(sbom_id.to_string()))
    }
}
