//! lynk's database schema, as sea-orm migrations.
//!
//! The same migrations run on SQLite (the embedded default) and PostgreSQL
//! (production). Every migration has an `up` and a `down`; none uses SQL
//! that only one backend understands.

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_create_organization;
mod m20261124_000002_create_user;
mod m20261124_000003_create_role;
mod m20261124_000004_create_membership;
mod m20261124_000005_create_token;
mod m20261124_000006_create_invitation;
mod m20261124_000007_create_audit_event;
mod m20261124_000008_create_project;
mod m20261124_000009_create_sbom;
mod m20261202_000010_create_failure_budget;
mod m20261202_000011_add_token_projects_and_addresses;
mod m20261202_000012_create_trusted_publisher;
mod m20261202_000013_add_audit_event_detail;
mod m20261202_000014_create_webhook;
mod m20261207_000015_create_oidc_jti;
mod m20261207_000020_add_token_rotated_from;
mod m20261207_000025_add_webhook_parking;
mod m20261207_000030_store_built_in_roles_by_name;
mod m20261208_000100_add_trusted_publisher_second_generation;
mod m20261208_000120_create_token_claims;
mod m20261208_000121_add_upload_policy;
mod m20261208_000122_add_sbom_receipts;
mod m20261208_000140_add_token_usage_and_addresses;
mod m20261208_000160_add_organization_token_policy;
mod m20261208_000180_add_token_parent;
mod m20261208_000200_add_webhook_delivery_last_error;
mod m20261208_000220_add_token_revocation_scheduled;

/// Applies lynk's migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_create_organization::Migration),
            Box::new(m20261124_000002_create_user::Migration),
            Box::new(m20261124_000003_create_role::Migration),
            Box::new(m20261124_000004_create_membership::Migration),
            Box::new(m20261124_000005_create_token::Migration),
            Box::new(m20261124_000006_create_invitation::Migration),
            Box::new(m20261124_000007_create_audit_event::Migration),
            Box::new(m20261124_000008_create_project::Migration),
            Box::new(m20261124_000009_create_sbom::Migration),
            Box::new(m20261202_000010_create_failure_budget::Migration),
            Box::new(m20261202_000011_add_token_projects_and_addresses::Migration),
            Box::new(m20261202_000012_create_trusted_publisher::Migration),
            Box::new(m20261202_000013_add_audit_event_detail::Migration),
            Box::new(m20261202_000014_create_webhook::Migration),
            Box::new(m20261207_000015_create_oidc_jti::Migration),
            Box::new(m20261207_000020_add_token_rotated_from::Migration),
            Box::new(m20261207_000025_add_webhook_parking::Migration),
            Box::new(m20261207_000030_store_built_in_roles_by_name::Migration),
            Box::new(m20261208_000100_add_trusted_publisher_second_generation::Migration),
            Box::new(m20261208_000120_create_token_claims::Migration),
            Box::new(m20261208_000121_add_upload_policy::Migration),
            Box::new(m20261208_000122_add_sbom_receipts::Migration),
            Box::new(m20261208_000140_add_token_usage_and_addresses::Migration),
            Box::new(m20261208_000160_add_organization_token_policy::Migration),
            Box::new(m20261208_000180_add_token_parent::Migration),
            Box::new(m20261208_000200_add_webhook_delivery_last_error::Migration),
            Box::new(m20261208_000220_add_token_revocation_scheduled::Migration),
        ]
    }
}
