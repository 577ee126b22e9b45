//! `trainhost users add|list|disable|enable|token|revoke`: the admin API of a
//! running server from the command line (`--url`, the admin's token from
//! `TRAINHOST_TOKEN`).
//!
//! Owns these commands' arguments and output. It must not touch an account
//! store itself: everything goes through the server's HTTP API.

use serde_json::{json, Value};

#[derive(clap::Args)]
pub struct UsersArgs {
    /// The server to manage.
    #[arg(long, env = "TRAINHOST_URL", default_value = "http://127.0.0.1:8080", global = true)]
    url: String,
    /// An admin's token.
    #[arg(long, env = "TRAINHOST_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: UsersCommand,
}

#[derive(clap::Subcommand)]
enum UsersCommand {
    /// Create a user and print its first token (shown once).
    Add {
        name: String,
        /// member or admin.
        #[arg(long, default_value = "member")]
        role: String,
    },
    /// List the users with their role, quota and usage.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Disable a user: their tokens stop working at once.
    Disable { name: String },
    /// Enable a disabled user again.
    Enable { name: String },
    /// Issue a new token for a user (shown once).
    Token {
        name: String,
        /// The token stops working after this many hours.
        #[arg(long)]
        expires_in_hours: Option<f64>,
    },
    /// Revoke every token of a user.
    Revoke { name: String },
}

pub fn run(args: UsersArgs) -> Result<std::process::ExitCode, String> {
    let token = args.token.clone().ok_or("set TRAINHOST_TOKEN (or --token) to an admin's token")?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(command(&args, &token))?;
    Ok(std::process::ExitCode::SUCCESS)
}

async fn command(args: &UsersArgs, token: &str) -> Result<(), String> {
    let url = args.url.trim_end_matches('/');
    let api = |method: reqwest::Method, path: String, body: Option<Value>| call(url, token, method, path, body);
    match &args.command {
        UsersCommand::Add { name, role } => {
            let data = api(reqwest::Method::POST, "/admin/users".into(), Some(json!({ "name": name, "role": role }))).await?;
            println!("created {} `{name}`; token (shown once): {}", data["role"].as_str().unwrap_or(role), data["token"].as_str().unwrap_or(""));
        }
        UsersCommand::List { json } => {
            let data = api(reqwest::Method::GET, "/admin/users".into(), None).await?;
            print_users(&data, *json);
        }
        UsersCommand::Disable { name } | UsersCommand::Enable { name } => {
            let disabled = matches!(args.command, UsersCommand::Disable { .. });
            api(reqwest::Method::PATCH, format!("/admin/users/{name}"), Some(json!({ "disabled": disabled }))).await?;
            println!("{} `{name}`", if disabled { "disabled" } else { "enabled" });
        }
        UsersCommand::Token { name, expires_in_hours } => {
            let body = json!({ "expiresInHours": expires_in_hours });
            let data = api(reqwest::Method::POST, format!("/admin/users/{name}/tokens"), Some(body)).await?;
            println!("new token for `{name}` (shown once): {}", data["token"].as_str().unwrap_or(""));
        }
        UsersCommand::Revoke { name } => {
            let data = api(reqwest::Method::DELETE, format!("/admin/users/{name}/tokens"), None).await?;
            println!("revoked {} token(s) of `{name}`", data["revoked"]);
        }
    }
    Ok(())
}

/// One request to the admin API; its `data`, or the server's error message.
async fn call(url: &str, token: &str, method: reqwest::Method, path: String, body: Option<Value>) -> Result<Value, String> {
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build().map_err(|e| e.to_string())?;
    let mut request = client.request(method, format!("{url}{path}")).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = answer["error"]["message"].as_str().unwrap_or("no message");
        return Err(format!("{status}: {message}"));
    }
    Ok(answer["data"].clone())
}

fn print_users(data: &Value, as_json: bool) {
    if as_json {
        println!("{}", serde_json::to_string_pretty(data).unwrap_or_default());
        return;
    }
    println!("{:<24} {:<7} {:<9} {:>11} {:>14}", "name", "role", "state", "active jobs", "dataset bytes");
    for user in data.as_array().into_iter().flatten() {
        let state = if user["disabled"].as_bool().unwrap_or(false) { "disabled" } else { "enabled" };
        let of = |used: &Value, limit: &Value| match limit.as_u64() {
            Some(0) | None => format!("{}", used.as_u64().unwrap_or(0)),
            Some(limit) => format!("{}/{limit}", used.as_u64().unwrap_or(0)),
        };
        println!(
            "{:<24} {:<7} {:<9} {:>11} {:>14}",
            user["name"].as_str().unwrap_or(""),
            user["role"].as_str().unwrap_or(""),
            state,
            of(&user["usage"]["activeJobs"], &user["quota"]["activeJobs"]),
            of(&user["usage"]["datasetBytes"], &user["quota"]["datasetBytes"]),
        );
    }
}
