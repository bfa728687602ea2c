//! Choosing tokens by what they are: the `nameContains` condition the
//! token lists share, and `TokenFilterInput` for `revokeTokens`.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, Condition,
    sea_query::{Expr, ExprTrait, Func, LikeExpr},
};
use uuid::Uuid;

use crate::{
    auth::{CredentialKind, project_scope::ProjectScope},
    config::MAX_NAME_LEN,
    entity::token,
    error::Error,
    service::token::not_revoked_at,
};

/// The SQL condition for `nameContains`: the token's name contains `text`,
/// compared in lower case, with `%`, `_` and `\\` in `text` taken
/// literally. (SQLite's `lower` folds only ASCII letters, so there other
/// letters match in their own case.)
pub fn name_condition(text: &str) -> Result<Condition, Error> {
    if text.chars().count() > MAX_NAME_LEN {
        return Err(Error::BadUserInput(format!(
            "nameContains is longer than a token name can be: at most {MAX_NAME_LEN} characters"
        )));
    }
    let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
    Ok(Condition::all().add(
        Expr::expr(Func::lower(Expr::col((token::Entity, token::Column::Name))))
            .like(LikeExpr::new(pattern).escape('\\')),
    ))
}

/// `text` with the `LIKE` wildcards and the escape character escaped.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// The SQL condition for a token that works at `now` (a rotation's grace
/// period included).
pub fn active_condition(now: DateTime<Utc>) -> Condition {
    Condition::all().add(not_revoked_at(now)).add(
        Condition::any()
            .add(token::Column::ExpiresAt.is_null())
            .add(token::Column::ExpiresAt.gt(now)),
    )
}

/// Which tokens `revokeTokens` acts on; every criterion given must hold.
#[derive(Clone, Debug, Default)]
pub struct TokenFilter {
    pub kind: Option<CredentialKind>,
    /// A personal token's owner.
    pub owner_id: Option<Uuid>,
    /// Tokens restricted to this project (among others); an unrestricted
    /// token is not chosen by it.
    pub project_id: Option<Uuid>,
    pub created_before: Option<DateTime<Utc>>,
    /// Last used before this moment (a token never used is not).
    pub last_used_before: Option<DateTime<Utc>>,
    /// `true`: never used; `false`: used at least once.
    pub never_used: Option<bool>,
    pub name_contains: Option<String>,
}

impl TokenFilter {
    /// Whether the filter names at least one criterion: an empty filter
    /// would choose every token of the organization.
    pub fn is_empty(&self) -> bool {
        self.kind.is_none()
            && self.owner_id.is_none()
            && self.project_id.is_none()
            && self.created_before.is_none()
            && self.last_used_before.is_none()
            && self.never_used.is_none()
            && self.name_contains.is_none()
    }

    /// The SQL condition for the organization's personal and service
    /// tokens that work at `now` and match. `projectId` is checked on the
    /// rows as well ([`TokenFilter::matches_projects`]): the restriction is
    /// stored as a list.
    pub fn condition(&self, organization_id: Uuid, now: DateTime<Utc>) -> Result<Condition, Error> {
        if self.kind == Some(CredentialKind::Session) {
            return Err(Error::bad_input(
                "kind SESSION cannot be revoked in bulk: sessions belong to their users; use \
                 PERSONAL or SERVICE",
            ));
        }
        let mut condition = Condition::all()
            .add(token::Column::OrganizationId.eq(organization_id))
            .add(token::Column::Kind.is_in([CredentialKind::Personal, CredentialKind::Service]))
            .add(active_condition(now));
        if let Some(kind) = self.kind {
            condition = condition.add(token::Column::Kind.eq(kind));
        }
        if let Some(owner) = self.owner_id {
            condition = condition.add(token::Column::OwnerUserId.eq(owner));
        }
        if let Some(project) = self.project_id {
            condition = condition.add(token::Column::ProjectIds.contains(project.to_string()));
        }
        if let Some(at) = self.created_before {
            condition = condition.add(token::Column::CreatedAt.lt(at));
        }
        if let Some(at) = self.last_used_before {
            condition = condition.add(token::Column::LastUsedAt.lt(at));
        }
        match self.never_used {
            Some(true) => condition = condition.add(token::Column::LastUsedAt.is_null()),
            Some(false) => condition = condition.add(token::Column::LastUsedAt.is_not_null()),
            None => {}
        }
        if let Some(text) = &self.name_contains {
            condition = condition.add(name_condition(text)?);
        }
        Ok(condition)
    }

    /// Whether a token restricted to `stored` (its `project_ids`) is
    /// chosen by `projectId`.
    pub fn matches_projects(&self, stored: Option<&str>) -> bool {
        match self.project_id {
            None => true,
            Some(project) => ProjectScope::from_storage(stored)
                .ids()
                .is_some_and(|ids| ids.contains(&project)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_taken_literally() {
        assert_eq!(escape_like("ci_deploy 100%"), r"ci\_deploy 100\%");
        assert_eq!(escape_like(r"a\b"), r"a\\b");
        assert_eq!(escape_like("plain"), "plain");
    }

    #[test]
    fn name_filters_are_bounded() {
        assert!(name_condition(&"x".repeat(MAX_NAME_LEN)).is_ok());
        let error = name_condition(&"x".repeat(MAX_NAME_LEN + 1)).unwrap_err();
        assert!(matches!(error, Error::BadUserInput(m) if m.contains("at most 100")));
    }

    #[test]
    fn a_project_filter_chooses_only_tokens_restricted_to_it() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let filter = TokenFilter {
            project_id: Some(a),
            ..Default::default()
        };
        assert!(filter.matches_projects(Some(&format!("{b} {a}"))));
        assert!(!filter.matches_projects(Some(&b.to_string())));
        assert!(!filter.matches_projects(None));
        assert!(TokenFilter::default().matches_projects(None));
        assert!(TokenFilter::default().is_empty());
        assert!(!filter.is_empty());
    }

    #[test]
    fn sessions_are_not_revoked_in_bulk() {
        let filter = TokenFilter {
            kind: Some(CredentialKind::Session),
            ..Default::default()
        };
        let error = filter.condition(Uuid::nil(), Utc::now()).unwrap_err();
        assert_eq!(error.code(), "BAD_USER_INPUT");
    }
}
