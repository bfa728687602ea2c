//! The server's encryption key (`--encryption-key`, docs/DESIGN.md §9):
//! it seals webhook secrets and receipt signing keys. With SQLite and no
//! key given, the first start writes `lynk.key` (mode 0600) beside the
//! database file; PostgreSQL needs the key given, since every instance
//! must share it. A key that cannot open what the database already holds
//! stops the start: a new key would orphan every sealed secret.

use std::path::{Path, PathBuf};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use sea_orm::{DatabaseConnection, EntityTrait, QuerySelect};

use crate::{
    entity::{signing_key, webhook},
    error::Error,
    receipt,
    webhook::seal::SealingKey,
};

/// The flag, as every message names it.
pub const FLAG: &str = "--encryption-key (LYNK_ENCRYPTION_KEY)";

/// The key file's name, beside the SQLite database.
pub const KEY_FILE: &str = "lynk.key";

/// The key to use: the one given, else (SQLite) the key file's, made on
/// first start. Fails, naming [`FLAG`], when the key cannot open the data
/// the database already holds sealed.
pub async fn resolve(
    given: Option<SealingKey>,
    database_url: &str,
    db: &DatabaseConnection,
) -> Result<SealingKey, Error> {
    let sealed = Sealed::find(db).await?;
    let (key, source) = match given {
        Some(key) => (key, FLAG.to_owned()),
        None => from_key_file(database_url, sealed.is_some())?,
    };
    if let Some(sealed) = sealed
        && !sealed.opens_with(&key)
    {
        return Err(Error::internal(format!(
            "the encryption key from {source} does not open the data this database holds sealed \
             ({}); start with the key it was sealed with: {FLAG}",
            sealed.what()
        )));
    }
    Ok(key)
}

/// Without a key given: the SQLite key file's key, made when there is
/// none yet and the database holds nothing sealed.
fn from_key_file(database_url: &str, has_sealed: bool) -> Result<(SealingKey, String), Error> {
    if !database_url.starts_with("sqlite:") {
        return Err(Error::internal(format!(
            "PostgreSQL needs the server's encryption key, the same on every instance: \
             {FLAG}, 32 random bytes base64 (`openssl rand -base64 32`)"
        )));
    }
    let Some(path) = key_file_path(database_url) else {
        // An in-memory database: the key lives as long as the data.
        return Ok((
            random_key(),
            "a key made for this in-memory database".into(),
        ));
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let key = text.parse::<SealingKey>().map_err(|err| {
                Error::internal(format!("{}: {err}; or give {FLAG}", path.display()))
            })?;
            Ok((key, path.display().to_string()))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            if has_sealed {
                return Err(Error::internal(format!(
                    "this database holds sealed data but no encryption key was given and {} \
                     does not exist; start with the key it was sealed with: {FLAG}",
                    path.display()
                )));
            }
            let key = random_key_text();
            write_new(&path, &key).map_err(|err| {
                Error::internal(format!(
                    "cannot create the encryption key file {}: {err}; or give {FLAG}",
                    path.display()
                ))
            })?;
            tracing::info!(
                path = %path.display(),
                "created the server's encryption key beside the database; back it up with the \
                 database (without it, webhook secrets and receipt keys cannot be opened)"
            );
            let key = key.parse::<SealingKey>().map_err(Error::internal)?;
            Ok((key, path.display().to_string()))
        }
        Err(err) => Err(Error::internal(format!(
            "cannot read the encryption key file {}: {err}",
            path.display()
        ))),
    }
}

/// `lynk.key` beside the database file of a `sqlite:` URL; `None` for an
/// in-memory database.
pub fn key_file_path(database_url: &str) -> Option<PathBuf> {
    let rest = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let (file, options) = rest.split_once('?').unwrap_or((rest, ""));
    if file.is_empty() || file == ":memory:" || options.contains("mode=memory") {
        return None;
    }
    let parent = Path::new(file).parent().unwrap_or(Path::new(""));
    Some(parent.join(KEY_FILE))
}

fn random_key_text() -> String {
    STANDARD.encode(rand::random::<[u8; 32]>())
}

fn random_key() -> SealingKey {
    // Always 32 base64 bytes: parsing cannot fail.
    random_key_text()
        .parse()
        .unwrap_or_else(|_| unreachable!("32 random bytes are a key"))
}

/// Writes a new key file, readable by its owner only; never overwrites.
fn write_new(path: &Path, key: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    writeln!(file, "{key}")?;
    file.sync_all()
}

/// One piece of sealed data the database holds, to try a key on.
enum Sealed {
    SigningKey(signing_key::Model),
    Webhook(webhook::Model),
}

impl Sealed {
    async fn find(db: &DatabaseConnection) -> Result<Option<Sealed>, Error> {
        if let Some(key) = signing_key::Entity::find().limit(1).one(db).await? {
            return Ok(Some(Sealed::SigningKey(key)));
        }
        Ok(webhook::Entity::find()
            .limit(1)
            .one(db)
            .await?
            .map(Sealed::Webhook))
    }

    fn opens_with(&self, key: &SealingKey) -> bool {
        match self {
            Sealed::SigningKey(row) => receipt::keys::open(key, row).is_some(),
            Sealed::Webhook(row) => key.open(row.id, &row.secret_sealed).is_some(),
        }
    }

    fn what(&self) -> &'static str {
        match self {
            Sealed::SigningKey(_) => "receipt signing keys",
            Sealed::Webhook(_) => "webhook secrets",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_file_sits_beside_the_database_file() {
        assert_eq!(
            key_file_path("sqlite:///var/lib/lynk/lynk.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/lynk/lynk.key"))
        );
        assert_eq!(
            key_file_path("sqlite://lynk.db?mode=rwc"),
            Some(PathBuf::from("lynk.key"))
        );
        assert_eq!(
            key_file_path("sqlite:data/x.db"),
            Some(PathBuf::from("data/lynk.key"))
        );
        assert_eq!(key_file_path("sqlite::memory:"), None);
        assert_eq!(key_file_path("sqlite://x.db?mode=memory"), None);
        assert_eq!(key_file_path("postgres://h/db"), None);
    }
}
