//! Users' keys and passwords: `dm user key` shows a user's API key to whoever gives its
//! password (or the key itself), `dm user key reset` replaces it (the old one stops working at
//! once: every request reads the registry), `dm user passwd` sets the password. Admin may reset
//! any user's key and set any user's password. Admin's own key is each node's (`node.toml`),
//! never the registry's, so it is not changed here.

use std::time::Duration;

use super::password;
use super::principal::Principal;
use super::{ADMIN, Daemon, DaemonError, hash_key, new_api_key};
use crate::api;
use crate::cluster::UserRecord;
use crate::names::{self, Kind};

type Result<T> = std::result::Result<T, DaemonError>;

/// Shortest password taken.
const MIN_PASSWORD: usize = 8;
/// A wrong password waits this long before the answer: guessing stays slow.
const WRONG_SECRET_DELAY: Duration = Duration::from_millis(500);

/// Password checks take turns: anyone may try one (`dm user key --password`), and each costs
/// PBKDF2's work, so a flood of them gets one core, not all.
static CHECKING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Whether `secret` is the password stored as `stored`, one check at a time, slowly when not.
fn password_matches(stored: Option<&str>, secret: &str) -> bool {
    let ok = {
        let _turn = CHECKING.lock().unwrap_or_else(|p| p.into_inner());
        stored.is_some_and(|p| password::verify(p, secret))
    };
    if !ok {
        std::thread::sleep(WRONG_SECRET_DELAY);
    }
    ok
}

/// Another request changed user `name` between our read and write.
fn raced(name: &str) -> DaemonError {
    DaemonError::Conflict(format!(
        "user '{name}' changed at the same moment; try again"
    ))
}

fn admins_key_is_nodes() -> DaemonError {
    DaemonError::Forbidden(
        "admin's key is kept by each node (its node.toml), not with the users; it changes only with the node's setup".into(),
    )
}

impl Daemon {
    fn user_record(&self, name: &str) -> Result<UserRecord> {
        names::validate(Kind::Namespace, name)
            .map_err(|e| DaemonError::BadRequest(format!("bad user name: {e}")))?;
        self.node
            .core
            .store()
            .user(name)?
            .ok_or_else(|| DaemonError::NotFound(format!("no user '{name}'")))
    }

    fn save_user(&self, old: &UserRecord, new: &UserRecord) -> Result<()> {
        if self.node.core.store().update_user(old, new)? {
            Ok(())
        } else {
            Err(raced(&old.name))
        }
    }

    /// The API key of `name`, for a caller who authenticated as `user` with `secret`: their
    /// key (which they have, then), or their password (which unseals the key kept with it).
    pub fn show_key(&self, name: &str, user: &str, secret: &str) -> Result<api::NewUser> {
        let answer = |key: &str| api::NewUser {
            name: name.to_string(),
            api_key: key.to_string(),
        };
        // Whatever is wrong (another user, no such user, the wrong secret), the same answer
        // after the same wait.
        let refuse = || {
            password_matches(None, secret);
            DaemonError::Unauthorized
        };
        if user != name {
            return Err(refuse());
        }
        if name == ADMIN {
            return match self.authenticate(ADMIN, secret) {
                Ok(_) => Ok(answer(secret)),
                Err(_) => Err(refuse()),
            };
        }
        let rec = match self.user_record(name) {
            Ok(r) => r,
            Err(DaemonError::NotFound(_) | DaemonError::BadRequest(_)) => return Err(refuse()),
            Err(e) => return Err(e),
        };
        if super::same(&hash_key(secret), &rec.api_key_sha256) {
            return Ok(answer(secret));
        }
        if !password_matches(rec.password.as_deref(), secret) {
            return Err(DaemonError::Unauthorized);
        }
        match rec
            .sealed_key
            .as_deref()
            .and_then(|s| password::unseal(s, secret))
        {
            // Sealed before a reset that came without the password: no longer the key.
            Some(key) if super::same(&hash_key(&key), &rec.api_key_sha256) => Ok(answer(&key)),
            _ => Err(DaemonError::Conflict(format!(
                "no key is kept with your password (it was reset without it); make a new one: `dm user key reset --password`, signed in with your current key, or ask admin (`dm user key reset --user {name}`)"
            ))),
        }
    }

    /// A new API key for `name`; with the user's `password`, kept recoverable with it.
    pub fn reset_key(
        &self,
        caller: &Principal,
        name: &str,
        req: &api::KeyReset,
    ) -> Result<api::NewUser> {
        caller.may_use(name)?;
        if name == ADMIN {
            return Err(admins_key_is_nodes());
        }
        let old = self.user_record(name)?;
        let key = new_api_key();
        let sealed = match (&req.password, &old.password) {
            (None, _) => None,
            (Some(p), Some(stored)) if password_matches(Some(stored), p) => {
                Some(password::seal(p, &key))
            }
            (Some(_), Some(_)) => {
                return Err(DaemonError::Forbidden(
                    "that is not the user's password; nothing changed".into(),
                ));
            }
            (Some(_), None) => {
                return Err(DaemonError::Conflict(format!(
                    "user '{name}' has no password yet; set one with `dm user passwd`, nothing changed"
                )));
            }
        };
        let new = UserRecord {
            api_key_sha256: hash_key(&key),
            sealed_key: sealed,
            ..old.clone()
        };
        self.save_user(&old, &new)?;
        tracing::info!(user = %name, by = %caller.name(), "reset an API key");
        Ok(api::NewUser {
            name: name.to_string(),
            api_key: key,
        })
    }

    /// Sets `name`'s password. A user setting their own, signed in with their key
    /// (`caller_key`), keeps that key recoverable with it; admin setting another's does not
    /// learn the key, so none is kept until the user resets it with the password.
    pub fn set_password(
        &self,
        caller: &Principal,
        caller_key: Option<&str>,
        name: &str,
        req: &api::SetPassword,
    ) -> Result<()> {
        caller.may_use(name)?;
        if name == ADMIN {
            return Err(admins_key_is_nodes());
        }
        if req.password.chars().count() < MIN_PASSWORD {
            return Err(DaemonError::BadRequest(format!(
                "a password needs at least {MIN_PASSWORD} characters"
            )));
        }
        let old = self.user_record(name)?;
        // The key the request came with, if it is this user's (not a forwarding node's).
        let own_key = caller_key.filter(|k| super::same(&hash_key(k), &old.api_key_sha256));
        let new = UserRecord {
            password: Some(password::hash(&req.password)),
            sealed_key: own_key.map(|k| password::seal(&req.password, k)),
            ..old.clone()
        };
        self.save_user(&old, &new)?;
        tracing::info!(user = %name, by = %caller.name(), "set a password");
        Ok(())
    }

    /// Every user, admin first.
    pub fn users(&self) -> Result<Vec<api::UserInfo>> {
        let mut out = vec![api::UserInfo {
            name: ADMIN.to_string(),
            password: false,
        }];
        out.extend(
            self.node
                .core
                .store()
                .users()?
                .into_iter()
                .map(|u| api::UserInfo {
                    name: u.name,
                    password: u.password.is_some(),
                }),
        );
        Ok(out)
    }

    /// Removes user `name`: its key stops working at once. Its namespace's dots stay, for
    /// admin (or a user made again with that name) to use.
    pub fn delete_user(&self, name: &str) -> Result<()> {
        if name == ADMIN {
            return Err(DaemonError::Forbidden(
                "admin cannot be removed: every node keeps its key".into(),
            ));
        }
        let old = self.user_record(name)?;
        if !self.node.core.store().delete_user(&old)? {
            return Err(raced(name));
        }
        tracing::info!(user = %name, "removed user");
        Ok(())
    }
}
