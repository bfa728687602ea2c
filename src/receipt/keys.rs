//! The receipt signing keys in the database: made once at first start
//! (the first instance to insert wins; the others read its key), sealed
//! under the server's encryption key, rotated by `lynk signing-key
//! rotate`. Every key ever made stays in the JWKS, so old receipts keep
//! verifying.

use std::sync::{Arc, Mutex};

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set, SqlErr, sea_query::Expr,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::jws::{ALGORITHM, ReceiptSigner};
use crate::{database, entity::signing_key, error::Error, webhook::seal::SealingKey};

/// The signing keys as the server uses them: the sealing key, and the
/// current signer once opened.
#[derive(Debug)]
pub struct ReceiptKeys {
    sealing: SealingKey,
    current: Mutex<Option<Arc<ReceiptSigner>>>,
}

impl ReceiptKeys {
    pub fn new(sealing: SealingKey) -> ReceiptKeys {
        ReceiptKeys {
            sealing,
            current: Mutex::new(None),
        }
    }

    /// The key that signs now. One statement reads which key is current
    /// (another instance may have rotated); it is opened once per key.
    pub async fn signer(&self, db: &impl ConnectionTrait) -> Result<Arc<ReceiptSigner>, Error> {
        let row = signing_key::Entity::find()
            .filter(signing_key::Column::Current.eq(true))
            .one(db)
            .await?
            .ok_or_else(|| Error::internal("no current receipt signing key"))?;
        let kid = row.id.to_string();
        if let Some(signer) = self.cached(&kid) {
            return Ok(signer);
        }
        let signer = Arc::new(open(&self.sealing, &row).ok_or_else(|| {
            Error::internal("the receipt signing key does not open with the encryption key")
        })?);
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&signer));
        Ok(signer)
    }

    fn cached(&self, kid: &str) -> Option<Arc<ReceiptSigner>> {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        current.as_ref().filter(|s| s.kid == kid).map(Arc::clone)
    }
}

/// The private key of `row`, if `sealing` opens it.
pub fn open(sealing: &SealingKey, row: &signing_key::Model) -> Option<ReceiptSigner> {
    let secret = sealing.open(row.id, &row.private_sealed)?;
    ReceiptSigner::from_secret(row.id.to_string(), &secret)
}

/// Makes the first signing key unless there is a current one. Two
/// instances starting at once both try; the unique index on `current`
/// lets one insert, and the other keeps the winner's.
pub async fn ensure(db: &DatabaseConnection, sealing: &SealingKey) -> Result<(), Error> {
    let exists = signing_key::Entity::find()
        .filter(signing_key::Column::Current.eq(true))
        .one(db)
        .await?
        .is_some();
    if exists {
        return Ok(());
    }
    match insert_new(db, sealing).await {
        Ok(kid) => {
            tracing::info!(kid = %kid, "receipt signing key created");
            Ok(())
        }
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(()),
        Err(err) => Err(err.into()),
    }
}

async fn insert_new(
    db: &impl ConnectionTrait,
    sealing: &SealingKey,
) -> Result<Uuid, sea_orm::DbErr> {
    let id = Uuid::now_v7();
    let signer = ReceiptSigner::generate(id.to_string());
    signing_key::ActiveModel {
        id: Set(id),
        algorithm: Set(ALGORITHM.to_owned()),
        public_jwk: Set(signer.public_jwk().to_string()),
        private_sealed: Set(sealing.seal(id, &signer.secret())),
        current: Set(Some(true)),
        created_at: Set(Utc::now()),
        retired_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(id)
}

/// `lynk signing-key rotate`: retires the current key (it stays in the
/// JWKS) and makes a new one current, in one transaction. Returns the new
/// key's id.
pub async fn rotate(db: &DatabaseConnection, sealing: &SealingKey) -> Result<Uuid, Error> {
    let txn = database::begin_write(db).await?;
    signing_key::Entity::update_many()
        .col_expr(
            signing_key::Column::Current,
            Expr::value(Option::<bool>::None),
        )
        .col_expr(signing_key::Column::RetiredAt, Expr::value(Utc::now()))
        .filter(signing_key::Column::Current.eq(true))
        .exec(&txn)
        .await?;
    let id = insert_new(&txn, sealing).await?;
    txn.commit().await?;
    Ok(id)
}

/// `GET /.well-known/jwks.json`: every signing key's public JWK, oldest first.
pub async fn jwks(db: &impl ConnectionTrait) -> Result<Value, Error> {
    let rows = signing_key::Entity::find()
        .order_by_asc(signing_key::Column::CreatedAt)
        .order_by_asc(signing_key::Column::Id)
        .all(db)
        .await?;
    let keys: Vec<Value> = rows
        .iter()
        .filter_map(|row| serde_json::from_str(&row.public_jwk).ok())
        .collect();
    Ok(json!({ "keys": keys }))
}
