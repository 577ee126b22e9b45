//! The accounts of a Redis deployment, beside its job records, so that every
//! API node reads the same users and tokens on every request (no cache: a
//! revoked token stops everywhere at once).
//!
//! Keys, under the broker's prefix `P`:
//! - `P:user:{name}`: the user (JSON); `P:users`: set of names.
//! - `P:token:{hash}`: a token's record (JSON), expiring with the token;
//!   `P:tokens:{name}`: set of the user's token hashes.
//! - `P:active:{name}`, `P:submits:{name}`: sorted sets of reserved and of the
//!   last hour's submitted job ids (`reserve_job.lua`); `P:datasets:{name}`:
//!   hash of the user's dataset ids to bytes (`reserve_bytes.lua`).
//!
//! Owns these keys. It must not decide who may do what (the API's `auth` does).

use async_trait::async_trait;

use super::RedisBroker;
use crate::accounts::{AccountError, AccountStore, Quota, QuotaHit, Result, TokenRecord, Usage, User};
use crate::queue::embedded::accounts::PENDING_MS;
use crate::queue::BrokerError;

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("account records are plain data")
}

fn parse<T: serde::de::DeserializeOwned>(text: Option<String>, what: &str) -> Result<Option<T>> {
    let Some(text) = text else { return Ok(None) };
    serde_json::from_str(&text).map(Some).map_err(|e| AccountError::Broker(BrokerError::Backend(format!("corrupt {what} record: {e}"))))
}

/// A script's refusal `{quota, limit, used, retry}` or `{'ok'}`.
fn quota_reply(reply: Vec<redis::Value>) -> Option<QuotaHit> {
    let text = |v: &redis::Value| match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::Int(i) => i.to_string(),
        _ => String::new(),
    };
    let name = reply.first().map(text)?;
    let quota = match name.as_str() {
        "active_jobs" => "active_jobs",
        "jobs_per_hour" => "jobs_per_hour",
        "dataset_bytes" => "dataset_bytes",
        _ => return None,
    };
    let number = |i: usize| reply.get(i).map(text).and_then(|t| t.parse::<i64>().ok()).unwrap_or(0);
    let retry = number(3);
    Some(QuotaHit { quota, limit: number(1).max(0) as u64, used: number(2).max(0) as u64, retry_after_secs: (retry > 0).then_some(retry as u64) })
}

impl RedisBroker {
    fn user_key(&self, name: &str) -> String {
        self.key(&["user", name])
    }

    fn token_key(&self, hash: &str) -> String {
        self.key(&["token", hash])
    }

    async fn call<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T> {
        Ok(self.bounded(async { Ok(cmd.query_async(&mut self.conn()).await?) }).await?)
    }

    async fn set_user(&self, user: &User, condition: &str) -> Result<bool> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.user_key(&user.name)).arg(json(user)).arg(condition);
        let set: Option<String> = self.call(&cmd).await?;
        if set.is_some() {
            self.call::<()>(redis::cmd("SADD").arg(self.key(&["users"])).arg(&user.name)).await?;
        }
        Ok(set.is_some())
    }
}

#[async_trait]
impl AccountStore for RedisBroker {
    async fn user(&self, name: &str) -> Result<Option<User>> {
        parse(self.call(redis::cmd("GET").arg(self.user_key(name))).await?, "user")
    }

    async fn users(&self) -> Result<Vec<User>> {
        let mut names: Vec<String> = self.call(redis::cmd("SMEMBERS").arg(self.key(&["users"]))).await?;
        names.sort();
        let mut users = vec![];
        for name in names {
            users.extend(self.user(&name).await?);
        }
        Ok(users)
    }

    async fn create_user(&self, user: &User) -> Result<()> {
        if self.set_user(user, "NX").await? {
            Ok(())
        } else {
            Err(AccountError::Exists(user.name.clone()))
        }
    }

    async fn update_user(&self, user: &User) -> Result<()> {
        if self.set_user(user, "XX").await? {
            Ok(())
        } else {
            Err(AccountError::NoUser(user.name.clone()))
        }
    }

    async fn add_token(&self, token: &TokenRecord) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("SET").arg(self.token_key(&token.hash)).arg(json(token));
        if let Some(at) = token.expires_at {
            pipe.arg("PXAT").arg(at);
        }
        pipe.cmd("SADD").arg(self.key(&["tokens", &token.user])).arg(&token.hash);
        self.bounded(async { Ok(pipe.query_async::<()>(&mut self.conn()).await?) }).await?;
        Ok(())
    }

    async fn token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        parse(self.call(redis::cmd("GET").arg(self.token_key(hash))).await?, "token")
    }

    async fn revoke_token(&self, hash: &str) -> Result<()> {
        if let Some(token) = self.token(hash).await? {
            self.call::<()>(redis::cmd("SREM").arg(self.key(&["tokens", &token.user])).arg(hash)).await?;
        }
        self.call::<()>(redis::cmd("DEL").arg(self.token_key(hash))).await
    }

    async fn revoke_tokens(&self, user: &str) -> Result<u64> {
        let mut script = self.scripts.revoke_tokens.key(self.key(&["tokens", user]));
        script.arg(self.token_key(""));
        let revoked: u64 = self.bounded(async { Ok(script.invoke_async(&mut self.conn()).await?) }).await?;
        Ok(revoked)
    }

    async fn reserve_job(&self, user: &str, job_id: &str, quota: &Quota) -> Result<Option<QuotaHit>> {
        let mut script = self.scripts.reserve_job.key(self.key(&["active", user]));
        script.key(self.key(&["submits", user])).arg(self.job_key("")).arg(job_id).arg(quota.active_jobs).arg(quota.jobs_per_hour).arg(PENDING_MS);
        let reply: Vec<redis::Value> = self.bounded(async { Ok(script.invoke_async(&mut self.conn()).await?) }).await?;
        Ok(quota_reply(reply))
    }

    async fn release_job(&self, user: &str, job_id: &str) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.cmd("ZREM").arg(self.key(&["active", user])).arg(job_id).cmd("ZREM").arg(self.key(&["submits", user])).arg(job_id);
        self.bounded(async { Ok(pipe.query_async::<()>(&mut self.conn()).await?) }).await?;
        Ok(())
    }

    async fn reserve_bytes(&self, user: &str, dataset_id: &str, bytes: u64, limit: u64) -> Result<Option<QuotaHit>> {
        let mut script = self.scripts.reserve_bytes.key(self.key(&["datasets", user]));
        script.arg(dataset_id).arg(bytes).arg(limit);
        let reply: Vec<redis::Value> = self.bounded(async { Ok(script.invoke_async(&mut self.conn()).await?) }).await?;
        Ok(quota_reply(reply))
    }

    async fn release_bytes(&self, user: &str, dataset_id: &str) -> Result<()> {
        self.call::<()>(redis::cmd("HDEL").arg(self.key(&["datasets", user])).arg(dataset_id)).await
    }

    async fn counted_datasets(&self, user: &str) -> Result<Vec<String>> {
        self.call::<Vec<String>>(redis::cmd("HKEYS").arg(self.key(&["datasets", user]))).await
    }

    async fn usage(&self, user: &str) -> Result<Usage> {
        let mut script = self.scripts.account_usage.key(self.key(&["active", user]));
        script.key(self.key(&["submits", user])).key(self.key(&["datasets", user])).arg(self.job_key("")).arg(PENDING_MS);
        let (active_jobs, jobs_last_hour, dataset_bytes): (u64, u64, u64) = self.bounded(async { Ok(script.invoke_async(&mut self.conn()).await?) }).await?;
        Ok(Usage { active_jobs, dataset_bytes, jobs_last_hour })
    }
}
