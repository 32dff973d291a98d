//! Who a request is from, as authentication established it. Handlers take a [`Principal`],
//! never a user name, so what a caller may do is decided in one place.

use super::DaemonError;

/// The user whose key opens every namespace; known from each node's own config, never from
/// the registry.
pub use crate::names::ADMIN;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// The cluster's administrator: every namespace, users and membership.
    Admin,
    /// A user: their own namespace only.
    User(String),
    /// Another node of this cluster (the cluster secret): internal calls only.
    Node,
    /// A node joining with a join token: the join call only.
    Joiner,
}

impl Principal {
    /// The principal a user name stands for once its key is checked.
    pub fn user(name: &str) -> Principal {
        if name == ADMIN {
            Principal::Admin
        } else {
            Principal::User(name.to_string())
        }
    }

    /// The name it authenticated as (for records such as a commit's author, and logs).
    pub fn name(&self) -> &str {
        match self {
            Principal::Admin => ADMIN,
            Principal::User(n) => n,
            Principal::Node => super::peer::NODE_USER,
            Principal::Joiner => super::membership::JOIN_USER,
        }
    }

    pub fn is_admin(&self) -> bool {
        *self == Principal::Admin
    }

    /// May it read and change dots in namespace `ns`?
    pub fn may_use(&self, ns: &str) -> Result<(), DaemonError> {
        match self {
            Principal::Admin => Ok(()),
            Principal::User(n) if n == ns => Ok(()),
            _ => Err(DaemonError::Forbidden(format!(
                "user '{}' may not use namespace '{ns}'",
                self.name()
            ))),
        }
    }

    /// Only the admin manages the cluster and its users.
    pub fn require_admin(&self) -> Result<(), DaemonError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(DaemonError::Forbidden(
                "only the admin user may manage the cluster and its users".into(),
            ))
        }
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_use_their_own_namespace_and_admin_every_one() {
        let bob = Principal::user("bob");
        assert!(bob.may_use("bob").is_ok());
        assert!(bob.may_use("alice").is_err());
        assert!(bob.require_admin().is_err());
        let admin = Principal::user(ADMIN);
        assert_eq!(admin, Principal::Admin);
        assert!(admin.may_use("alice").is_ok());
        assert!(admin.require_admin().is_ok());
        // A node or a joiner is nobody's user, whatever the namespace is called.
        assert!(Principal::Node.may_use(Principal::Node.name()).is_err());
        assert!(Principal::Joiner.may_use(Principal::Joiner.name()).is_err());
    }
}
