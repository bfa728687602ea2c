//! A receipt signing key: its public JWK, and its private key sealed under
//! the server's encryption key. One key is `current` (signs); retired
//! keys stay to be published in the JWKS.

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "signing_key")]
pub struct Model {
    /// Also the JWS `kid`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `ES256`.
    pub algorithm: String,
    /// The public key as a JWK (JSON text).
    #[sea_orm(column_type = "Text")]
    pub public_jwk: String,
    /// The private key, sealed (`webhook::seal`), bound to the id.
    #[sea_orm(column_type = "Text")]
    pub private_sealed: String,
    /// `Some(true)` on the signing key, `None` on retired ones.
    pub current: Option<bool>,
    pub created_at: DateTimeUtc,
    pub retired_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

// Not derived: even sealed, the private key stays out of logs.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .field("algorithm", &self.algorithm)
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}
