//! Accounts: users with a role (`admin` or `member`), the bearer tokens that
//! name them (kept only as a sha256 hash), their quotas and what they use of
//! them, behind one `AccountStore` trait that both brokers implement where
//! they keep job records (`queue::embedded::accounts`, `queue::redis::accounts`),
//! so every API node sees the same accounts at once.
//!
//! Owns these types, how a token is made and hashed, the quota arithmetic's
//! inputs (`Quota`, `QuotaHit`), and the bootstrap of the first admin. It must
//! not know about HTTP (the API's `auth` turns a `Caller` into answers) nor
//! store anything itself.

use async_trait::async_trait;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::QuotaConfig;

/// The user the bootstrap creates when no admin exists.
pub const BOOTSTRAP_ADMIN: &str = "admin";
/// What every token starts with, so that a leaked one is recognisable (secret scanners).
pub const TOKEN_PREFIX: &str = "th_";
/// Random bytes in a token: 256 bits.
const TOKEN_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

/// Per-user quota settings; an absent field takes the config's default.
/// A value of 0 means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuotaOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_jobs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs_per_hour: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub name: String,
    pub role: Role,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub quota: QuotaOverrides,
    pub created_at: i64,
}

impl User {
    pub fn new(name: &str, role: Role) -> User {
        User { name: name.to_string(), role, disabled: false, quota: QuotaOverrides::default(), created_at: crate::ids::now_ms() }
    }

    /// The limits that apply to this user: the overrides, else the config's
    /// defaults for members; admins have no limit unless one is set for them.
    pub fn quota(&self, defaults: &QuotaConfig) -> Quota {
        let default = |value: u64| if self.role == Role::Admin { 0 } else { value };
        Quota {
            active_jobs: self.quota.active_jobs.unwrap_or(default(defaults.active_jobs)),
            dataset_bytes: self.quota.dataset_bytes.unwrap_or(default(defaults.dataset_mib.saturating_mul(1 << 20))),
            upload_bytes: self.quota.upload_bytes.unwrap_or(default(defaults.upload_mib.saturating_mul(1 << 20))),
            jobs_per_hour: self.quota.jobs_per_hour.unwrap_or(default(defaults.jobs_per_hour)),
        }
    }
}

/// The limits in force for one user (0: none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    pub active_jobs: u64,
    pub dataset_bytes: u64,
    pub upload_bytes: u64,
    pub jobs_per_hour: u64,
}

/// What a user uses of the quotas that accumulate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub active_jobs: u64,
    pub dataset_bytes: u64,
    pub jobs_last_hour: u64,
}

/// A quota that refused: its name (`active_jobs`, `jobs_per_hour`,
/// `dataset_bytes`, `upload_bytes`), its limit, what is used, and how many
/// seconds until waiting would help (when that is known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaHit {
    pub quota: &'static str,
    pub limit: u64,
    pub used: u64,
    pub retry_after_secs: Option<u64>,
}

/// A stored token: only its hash, whose it is, and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    pub hash: String,
    pub user: String,
    pub created_at: i64,
    /// Unix ms; None: until revoked.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Made by `POST /auth/session` for the web UI's cookie.
    #[serde(default)]
    pub session: bool,
}

impl TokenRecord {
    pub fn is_live(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("user `{0}` already exists")]
    Exists(String),
    #[error("no user `{0}`")]
    NoUser(String),
    #[error(transparent)]
    Broker(#[from] crate::queue::BrokerError),
}

pub type Result<T, E = AccountError> = std::result::Result<T, E>;

/// Where users, token hashes and quota bookkeeping live. Every call reads the
/// shared store (no cache), so a change is seen by every node at once.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    async fn user(&self, name: &str) -> Result<Option<User>>;
    /// Every user, by name.
    async fn users(&self) -> Result<Vec<User>>;
    /// Stores a new user; `Exists` if the name is taken.
    async fn create_user(&self, user: &User) -> Result<()>;
    /// Replaces an existing user's record; `NoUser` if there is none.
    async fn update_user(&self, user: &User) -> Result<()>;
    async fn add_token(&self, token: &TokenRecord) -> Result<()>;
    /// The token with this hash, if it exists (live or expired).
    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>>;
    async fn revoke_token(&self, hash: &str) -> Result<()>;
    /// Revokes every token of `user`; returns how many there were.
    async fn revoke_tokens(&self, user: &str) -> Result<u64>;
    /// Takes an active-job slot and an hourly submission for `job_id`, in one
    /// atomic step, or says which quota refused.
    async fn reserve_job(&self, user: &str, job_id: &str, quota: &Quota) -> Result<Option<QuotaHit>>;
    /// Gives back a slot `reserve_job` took for a job that was not submitted.
    async fn release_job(&self, user: &str, job_id: &str) -> Result<()>;
    /// Counts `bytes` of dataset `dataset_id` against the user's stored bytes, atomically.
    async fn reserve_bytes(&self, user: &str, dataset_id: &str, bytes: u64, limit: u64) -> Result<Option<QuotaHit>>;
    /// A dataset that is gone (or was never stored) no longer counts.
    async fn release_bytes(&self, user: &str, dataset_id: &str) -> Result<()>;
    /// The ids of the datasets counted against `user`'s stored bytes.
    async fn counted_datasets(&self, user: &str) -> Result<Vec<String>>;
    async fn usage(&self, user: &str) -> Result<Usage>;
}

/// A fresh token: the prefix and 256 random bits as hex.
pub fn new_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// How a token is stored and looked up: its sha256 as hex. Tokens carry 256
/// random bits, so a plain hash suffices (no salt or stretching needed).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// User names: 1-64 of `[a-z0-9._-]`, starting with a letter or digit (they
/// end up in Redis keys and log lines).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_' || b == b'-')
}

/// Issues a new token for `user` (optionally expiring) and stores its hash;
/// returns the token, which is never stored.
pub async fn issue_token(store: &dyn AccountStore, user: &str, expires_at: Option<i64>, session: bool) -> Result<String> {
    let token = new_token();
    let record = TokenRecord { hash: hash_token(&token), user: user.to_string(), created_at: crate::ids::now_ms(), expires_at, session };
    store.add_token(&record).await?;
    Ok(token)
}

/// Whether an enabled admin exists.
pub async fn has_admin(store: &dyn AccountStore) -> Result<bool> {
    Ok(store.users().await?.iter().any(|u| u.role == Role::Admin && !u.disabled))
}

/// What the bootstrap did.
#[derive(Debug)]
pub enum Bootstrap {
    /// An admin existed already.
    Existing,
    /// The admin was created with this token (given, or made now).
    Created { token: String },
}

/// When no enabled admin exists, creates (or re-enables) `admin` with
/// `given` as its token, else a random one.
pub async fn bootstrap(store: &dyn AccountStore, given: Option<&str>) -> Result<Bootstrap> {
    if has_admin(store).await? {
        return Ok(Bootstrap::Existing);
    }
    let mut admin = User::new(BOOTSTRAP_ADMIN, Role::Admin);
    match store.create_user(&admin).await {
        Ok(()) => {}
        Err(AccountError::Exists(_)) => {
            admin = store.user(BOOTSTRAP_ADMIN).await?.unwrap_or(admin);
            admin.role = Role::Admin;
            admin.disabled = false;
            store.update_user(&admin).await?;
        }
        Err(e) => return Err(e),
    }
    let token = match given {
        Some(token) => {
            let record = TokenRecord { hash: hash_token(token), user: admin.name.clone(), created_at: crate::ids::now_ms(), expires_at: None, session: false };
            store.add_token(&record).await?;
            token.to_string()
        }
        None => issue_token(store, &admin.name, None, false).await?,
    };
    Ok(Bootstrap::Created { token })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_256_random_bits_and_hash_to_hex() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
        assert_eq!(hash_token(&a).len(), 64);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }

    #[test]
    fn names_are_checked() {
        assert!(is_valid_name("alice") && is_valid_name("bob-2.x"));
        for bad in ["", "Alice", "-x", "a b", "a:b", &"x".repeat(65)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn members_get_the_defaults_and_admins_none_unless_set() {
        let defaults = QuotaConfig::default();
        let member = User::new("m", Role::Member);
        assert_eq!(member.quota(&defaults).active_jobs, defaults.active_jobs);
        let mut admin = User::new("a", Role::Admin);
        assert_eq!(admin.quota(&defaults).active_jobs, 0);
        admin.quota.active_jobs = Some(3);
        assert_eq!(admin.quota(&defaults).active_jobs, 3);
    }
}
