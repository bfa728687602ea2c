//! The verified claims an exchanged token was issued for: a selection
//! (docs/DESIGN.md §9), never the identity token. Read at upload to make
//! the SBOM's provenance.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "token_claims")]
pub struct Model {
    /// The exchanged (service) token.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_id: Uuid,
    /// The trusted publisher it matched; `None` once that was deleted.
    pub publisher_id: Option<Uuid>,
    pub issuer: String,
    /// GitHub `repository`, GitLab `project_path`.
    pub repository: Option<String>,
    /// GitHub `repository_id`, GitLab `project_id`.
    pub repository_id: Option<String>,
    /// `ref`.
    pub git_ref: Option<String>,
    /// `sha`.
    pub sha: Option<String>,
    /// GitHub `job_workflow_ref`, GitLab `ci_config_ref_uri`.
    pub workflow_ref: Option<String>,
    /// `environment`.
    pub environment: Option<String>,
    /// GitHub `run_id`, GitLab `pipeline_id`.
    pub run_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
