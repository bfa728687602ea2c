//! Who may read, revoke or rotate which token (docs/DESIGN.md §3.4). Pure: the
//! caller's [`Principal`] and the facts of the token are arguments.
//!
//! - A token (personal or service) may act only on itself; anything else
//!   needs a session or `tokens:write` (`tokens:read` to look).
//! - A project-restricted caller reaches only tokens whose projects lie
//!   within its own (an unrestricted token lies within no restriction).
//! - A session reaches its user's own personal tokens and sessions.
//! - Rotation is creation: only the owner's session rotates a personal
//!   token (others may revoke it, never rotate it), a session is never
//!   rotated, and a service token is rotated only by a caller holding every
//!   permission it carries and reaching every project it reaches.
//! - A session belongs to its user, not to an organization: nobody else
//!   sees it (it does not exist for them).

use uuid::Uuid;

use super::{
    CredentialKind, Permission, PermissionSet, Principal, permission::check_no_escalation,
    project_scope::ProjectScope,
};
use crate::error::Error;

/// What the caller wants to do with a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenAction {
    /// See it (`token(id)`).
    Read,
    /// Revoke it.
    Revoke,
    /// Replace its secret (`rotateToken`).
    Rotate,
}

/// The facts about a stored token the rules decide on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenFacts {
    pub id: Uuid,
    pub kind: CredentialKind,
    /// For a session, the organization it was pinned to at login.
    pub organization_id: Option<Uuid>,
    pub owner_user_id: Option<Uuid>,
    /// What the token can do: a service token's role. Needed only to rotate
    /// a service token; `None` means unknown, which never passes.
    pub carried: Option<PermissionSet>,
    /// The projects it reaches.
    pub projects: ProjectScope,
    /// For a child token, the token it was minted from.
    pub parent_id: Option<Uuid>,
}

/// Whether `principal` may do `action` on the token. A token it may not
/// even know about is `NOT_FOUND`, so existence does not leak.
pub fn check_token_action(
    principal: &Principal,
    token: &TokenFacts,
    action: TokenAction,
) -> Result<(), Error> {
    use CredentialKind::{Personal, Service, Session};
    if principal.is_child() && action != TokenAction::Read {
        // What it cannot see does not exist for it; what it can, it may
        // not manage.
        check_token_action(principal, token, TokenAction::Read)?;
        return Err(Error::Forbidden(
            "a child token manages no token (not even itself); its parent, or a session or \
             tokens:write, may revoke it"
                .into(),
        ));
    }
    // A parent sees and revokes its own children (rotating one is refused
    // where rotation is decided).
    let itself = token.id == principal.token_id
        || (token.parent_id == Some(principal.token_id)
            && action != TokenAction::Rotate
            && !principal.in_grace);
    let owners_session =
        principal.session_user().is_some() && token.owner_user_id == principal.user_id;
    let in_organization = token.organization_id == Some(principal.organization_id());
    match (token.kind, action) {
        (Session, _) if !(itself || owners_session) => Err(Error::NotFound("token")),
        (Session, TokenAction::Rotate) => Err(Error::bad_input(
            "sessions cannot be rotated; sign in again with login",
        )),
        (Session, TokenAction::Read | TokenAction::Revoke) => Ok(()),
        (Personal | Service, _) if !in_organization => Err(Error::NotFound("token")),
        (Personal | Service, _) if itself || owners_session => Ok(()),
        // A project-restricted caller reaches only tokens whose projects
        // lie within its own; any other does not exist for it.
        (Personal | Service, _) if !token.projects.is_within(&principal.projects) => {
            Err(Error::NotFound("token"))
        }
        (Personal | Service, TokenAction::Read) => principal.require(Permission::TokensRead),
        (Personal | Service, TokenAction::Revoke) => principal.require(Permission::TokensWrite),
        (Personal, TokenAction::Rotate) => {
            principal.require(Permission::TokensWrite)?;
            Err(Error::Forbidden(
                "a personal token is rotated only by its owner, signed in with a session; you \
                 may revoke it instead"
                    .into(),
            ))
        }
        (Service, TokenAction::Rotate) => {
            principal.require(Permission::TokensWrite)?;
            let carried = token.carried.unwrap_or(PermissionSet::all());
            check_no_escalation(carried, principal.permissions).map_err(|missing| {
                let names: Vec<&str> = missing.iter().map(|p| p.name()).collect();
                Error::Forbidden(format!(
                    "rotating this token would hand you permissions you do not hold: {}",
                    names.join(", ")
                ))
            })?;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::auth::{BuiltInRole, principal::OrganizationSnapshot};

    const ORG: Uuid = Uuid::from_u128(1);
    const OTHER_ORG: Uuid = Uuid::from_u128(2);
    const ALICE: Uuid = Uuid::from_u128(10);
    const BOB: Uuid = Uuid::from_u128(11);

    fn caller(kind: CredentialKind, user: Option<Uuid>, permissions: PermissionSet) -> Principal {
        Principal {
            kind,
            token_id: Uuid::from_u128(100),
            user_id: user,
            organization: OrganizationSnapshot {
                id: ORG,
                name: "Acme".into(),
                created_at: Utc::now(),
                max_token_lifetime_days: 366,
            },
            role_id: Uuid::from_u128(200),
            permissions,
            withheld: Default::default(),
            projects: Default::default(),
            last_used_at: None,
            last_used_ips: None,
            parent_id: None,
            in_grace: false,
            addresses: None,
            parent_addresses: None,
            used: Default::default(),
        }
    }

    fn token(kind: CredentialKind, owner: Option<Uuid>, carried: PermissionSet) -> TokenFacts {
        TokenFacts {
            id: Uuid::from_u128(300),
            kind,
            organization_id: Some(ORG),
            owner_user_id: owner,
            carried: Some(carried),
            projects: ProjectScope::All,
            parent_id: None,
        }
    }

    fn code(result: Result<(), Error>) -> &'static str {
        result.err().map_or("OK", |e| e.code())
    }

    const TOKENS_ONLY: PermissionSet =
        PermissionSet::of(&[Permission::TokensRead, Permission::TokensWrite]);

    #[test]
    fn a_token_manager_revokes_but_never_rotates_into_more_power() {
        let manager = caller(CredentialKind::Session, Some(BOB), TOKENS_ONLY);
        let admin_personal = token(CredentialKind::Personal, Some(ALICE), PermissionSet::all());
        let admin_service = token(CredentialKind::Service, None, PermissionSet::all());
        let uploader_service = token(
            CredentialKind::Service,
            None,
            BuiltInRole::Uploader.permissions(),
        );
        for t in [&admin_personal, &admin_service] {
            assert_eq!(
                code(check_token_action(&manager, t, TokenAction::Read)),
                "OK"
            );
            assert_eq!(
                code(check_token_action(&manager, t, TokenAction::Revoke)),
                "OK"
            );
            assert_eq!(
                code(check_token_action(&manager, t, TokenAction::Rotate)),
                "FORBIDDEN"
            );
        }
        let admin = caller(
            CredentialKind::Service,
            None,
            BuiltInRole::Admin.permissions(),
        );
        assert_eq!(
            code(check_token_action(
                &admin,
                &admin_service,
                TokenAction::Rotate
            )),
            "OK"
        );
        // Even an admin does not rotate another user's personal token.
        assert_eq!(
            code(check_token_action(
                &admin,
                &admin_personal,
                TokenAction::Rotate
            )),
            "FORBIDDEN"
        );
        // Rotating what you could create yourself is fine.
        let editor_with_tokens = caller(
            CredentialKind::Session,
            Some(BOB),
            BuiltInRole::Uploader
                .permissions()
                .with(Permission::TokensWrite),
        );
        assert_eq!(
            code(check_token_action(
                &editor_with_tokens,
                &uploader_service,
                TokenAction::Rotate
            )),
            "OK"
        );
        // A caller restricted to some projects does not rotate a token that
        // reaches all of them: for it, that token does not exist.
        let mut restricted = editor_with_tokens.clone();
        restricted.projects = ProjectScope::Only(vec![Uuid::from_u128(7)]);
        assert_eq!(
            code(check_token_action(
                &restricted,
                &uploader_service,
                TokenAction::Rotate
            )),
            "NOT_FOUND"
        );
        let mut within = uploader_service.clone();
        within.projects = ProjectScope::Only(vec![Uuid::from_u128(7)]);
        assert_eq!(
            code(check_token_action(
                &restricted,
                &within,
                TokenAction::Rotate
            )),
            "OK"
        );
        // Unknown carried permissions never pass.
        let mut unknown = uploader_service;
        unknown.carried = None;
        assert_eq!(
            code(check_token_action(
                &editor_with_tokens,
                &unknown,
                TokenAction::Rotate
            )),
            "FORBIDDEN"
        );
    }

    #[test]
    fn a_non_session_credential_acts_only_on_itself() {
        let scoped = caller(
            CredentialKind::Personal,
            Some(ALICE),
            PermissionSet::of(&[Permission::ProjectsRead]),
        );
        let sibling = token(CredentialKind::Personal, Some(ALICE), PermissionSet::all());
        let session = TokenFacts {
            organization_id: Some(ORG),
            ..token(CredentialKind::Session, Some(ALICE), PermissionSet::all())
        };
        for action in [TokenAction::Read, TokenAction::Revoke, TokenAction::Rotate] {
            assert_eq!(
                code(check_token_action(&scoped, &sibling, action)),
                "FORBIDDEN"
            );
            assert_eq!(
                code(check_token_action(&scoped, &session, action)),
                "NOT_FOUND"
            );
        }
        let mut itself = sibling;
        itself.id = scoped.token_id;
        for action in [TokenAction::Read, TokenAction::Revoke, TokenAction::Rotate] {
            assert_eq!(code(check_token_action(&scoped, &itself, action)), "OK");
        }
    }

    #[test]
    fn the_owners_session_manages_its_tokens_and_sessions() {
        let session = caller(
            CredentialKind::Session,
            Some(ALICE),
            BuiltInRole::Viewer.permissions(),
        );
        let mine = token(CredentialKind::Personal, Some(ALICE), PermissionSet::all());
        let other_session = TokenFacts {
            organization_id: Some(OTHER_ORG),
            ..token(CredentialKind::Session, Some(ALICE), PermissionSet::all())
        };
        for action in [TokenAction::Read, TokenAction::Revoke, TokenAction::Rotate] {
            assert_eq!(code(check_token_action(&session, &mine, action)), "OK");
        }
        assert_eq!(
            code(check_token_action(
                &session,
                &other_session,
                TokenAction::Revoke
            )),
            "OK"
        );
        assert_eq!(
            code(check_token_action(
                &session,
                &other_session,
                TokenAction::Rotate
            )),
            "BAD_USER_INPUT"
        );
        // Someone else's session does not exist, whatever the permissions.
        let admin = caller(CredentialKind::Session, Some(BOB), PermissionSet::all());
        assert_eq!(
            code(check_token_action(
                &admin,
                &other_session,
                TokenAction::Revoke
            )),
            "NOT_FOUND"
        );
    }

    #[test]
    fn another_organizations_token_does_not_exist() {
        let admin = caller(CredentialKind::Session, Some(ALICE), PermissionSet::all());
        let mut foreign = token(CredentialKind::Personal, Some(ALICE), PermissionSet::all());
        foreign.organization_id = Some(OTHER_ORG);
        for action in [TokenAction::Read, TokenAction::Revoke, TokenAction::Rotate] {
            assert_eq!(
                code(check_token_action(&admin, &foreign, action)),
                "NOT_FOUND"
            );
        }
    }

    #[test]
    fn a_restricted_caller_reaches_only_tokens_within_its_projects() {
        const A: Uuid = Uuid::from_u128(500);
        const B: Uuid = Uuid::from_u128(501);
        let mut restricted = caller(CredentialKind::Service, None, TOKENS_ONLY);
        restricted.projects = ProjectScope::Only(vec![A]);
        let mut inside = token(CredentialKind::Service, None, PermissionSet::EMPTY);
        inside.projects = ProjectScope::Only(vec![A]);
        let mut outside = inside.clone();
        outside.projects = ProjectScope::Only(vec![A, B]);
        let mut everywhere = inside.clone();
        everywhere.projects = ProjectScope::All;
        assert_eq!(
            code(check_token_action(
                &restricted,
                &inside,
                TokenAction::Revoke
            )),
            "OK"
        );
        for t in [&outside, &everywhere] {
            for action in [TokenAction::Read, TokenAction::Revoke, TokenAction::Rotate] {
                assert_eq!(
                    code(check_token_action(&restricted, t, action)),
                    "NOT_FOUND"
                );
            }
        }
    }

    #[test]
    fn a_child_manages_no_token_and_its_parent_revokes_it() {
        let admin = BuiltInRole::Admin.permissions();
        let mut child = caller(CredentialKind::Service, None, admin);
        child.parent_id = Some(Uuid::from_u128(101));
        let mut itself = token(CredentialKind::Service, None, admin);
        itself.id = child.token_id;
        let other = token(CredentialKind::Service, None, admin);
        let foreign = TokenFacts {
            organization_id: Some(OTHER_ORG),
            ..token(CredentialKind::Service, None, admin)
        };
        assert_eq!(
            code(check_token_action(&child, &itself, TokenAction::Read)),
            "OK"
        );
        for action in [TokenAction::Revoke, TokenAction::Rotate] {
            assert_eq!(
                code(check_token_action(&child, &itself, action)),
                "FORBIDDEN"
            );
            assert_eq!(
                code(check_token_action(&child, &other, action)),
                "FORBIDDEN"
            );
            // Another organization's token does not exist for it.
            assert_eq!(
                code(check_token_action(&child, &foreign, action)),
                "NOT_FOUND"
            );
        }

        let parent = caller(CredentialKind::Service, None, PermissionSet::EMPTY);
        let mine = TokenFacts {
            parent_id: Some(parent.token_id),
            ..token(CredentialKind::Service, None, admin)
        };
        for (action, expected) in [
            (TokenAction::Read, "OK"),
            (TokenAction::Revoke, "OK"),
            (TokenAction::Rotate, "FORBIDDEN"),
        ] {
            assert_eq!(
                code(check_token_action(&parent, &mine, action)),
                expected,
                "{action:?}"
            );
        }
        // A parent in its rotation's grace manages no token.
        let retiring = Principal {
            in_grace: true,
            ..parent
        };
        assert_eq!(
            code(check_token_action(&retiring, &mine, TokenAction::Revoke)),
            "FORBIDDEN"
        );
    }
}
