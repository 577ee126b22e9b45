//! Accounts against the real binary, on the embedded broker and on Redis
//! (under a key prefix of its own): every route needs a token (the routes are
//! taken from the router itself), another member's objects answer exactly as
//! missing ones on every route, a revoked token stops on a second API node
//! within a second, quotas hold under 20 concurrent submits, the web UI's
//! session cookie needs its CSRF header, the bootstrap admin's start-up URL,
//! `mode = "none"`, the `users` command, the failed-attempt limit, the
//! audit log, and bytes a crash left counted given back at the next start.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

/// A concrete path for a route pattern (`{id}` becomes a fresh uuid).
fn concrete(pattern: &str) -> String {
    pattern.replace("{id}", &uuid::Uuid::new_v4().to_string()).replace("{name}", "nobody").replace("{file}", "app.js")
}

fn open_route(path: &str) -> bool {
    trainhost::api::auth::is_open(path) || path == "/ui/{file}"
}

async fn send(client: &reqwest::Client, method: &str, url: &str) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    client.request(method, url).header("content-type", "application/json").body("{}").send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_of_the_router_needs_a_token_and_admin_routes_an_admin() {
    let dir = temp_dir();
    let mut setup = Setup::embedded(dir.path());
    setup.env.push(("TRAINHOST_AUTH_METRICS_TOKEN".into(), "th_metrics_scraper_token_0123456789abcdef".into()));
    // Every route is tried with a wrong token too: more failures than the default allows a minute.
    setup.env.push(("TRAINHOST_AUTH_FAILED_PER_MINUTE".into(), "100000".into()));
    let server = Process::serve(&setup, &[]);
    wait_ready(&server.url).await;
    let url = &server.url;
    let member = add_user(url, "alice", "member").await;
    let table = trainhost::api::route_table();
    assert!(table.len() > 20, "{table:?}");
    let mut tried = 0;
    for route in table.iter().filter(|r| !open_route(&r.path)) {
        for method in &route.methods {
            let path = concrete(&route.path);
            let response = send(&anonymous_client(), method, &format!("{url}{path}")).await;
            assert_eq!(response.status(), 401, "{method} {path} without a token");
            assert_eq!(response.headers()["www-authenticate"].to_str().unwrap().split(' ').next(), Some("Bearer"), "{method} {path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "unauthorized", "{method} {path}: {body}");
            let bad = send(&client_as("th_not_a_token"), method, &format!("{url}{path}")).await;
            assert_eq!(bad.status(), 401, "{method} {path} with a wrong token");
            if path.contains("/admin/") || path == "/metrics" {
                let response = send(&client_as(&member), method, &format!("{url}{path}")).await;
                let body: Value = response.json().await.unwrap_or(Value::Null);
                assert_eq!(body["error"]["code"], "forbidden", "{method} {path} as a member: {body}");
            }
            tried += 1;
        }
    }
    assert!(tried > 30, "only {tried} routes tried");
    for open in ["/healthz", "/readyz", "/docs", "/openapi.json", "/", "/ui/app.js"] {
        assert_eq!(anonymous_client().get(format!("{url}{open}")).send().await.unwrap().status(), 200, "{open}");
    }
    let scraper = client_as("th_metrics_scraper_token_0123456789abcdef").get(format!("{url}/metrics")).send().await.unwrap();
    assert_eq!(scraper.status(), 200);
    assert_eq!(client().get(format!("{url}/metrics")).send().await.unwrap().status(), 200, "an admin reads the metrics");
}

/// Alice's job, dataset and model, as Bob sees them: exactly like ids that do not exist.
async fn assert_isolated(url: &str) {
    let alice = add_user(url, "alice", "member").await;
    let bob = add_user(url, "bob", "member").await;
    let theirs = upload_as(url, &alice, &testdata("penguins.csv")).await["id"].as_str().unwrap().to_string();
    let mine = upload_as(url, &bob, &testdata("penguins.csv")).await["id"].as_str().unwrap().to_string();
    let job = submit_as(url, &alice, &baseline_job(&theirs)).await;
    let running = submit_as(url, &alice, &slow_job(&theirs, 200, 100)).await;
    let mut deadline = Instant::now() + Duration::from_secs(60);
    while get_json_as(url, &alice, &format!("/jobs/{job}")).await.1["data"]["status"] != "completed" {
        assert!(Instant::now() < deadline, "alice's job did not complete");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ghost = uuid::Uuid::new_v4().to_string();
    let ghost_set = uuid::Uuid::new_v4().to_string();
    let bob_client = client_as(&bob);
    // Each request on Alice's object, then on an id that never existed: same status, same body.
    let cases: Vec<(&str, String, Value)> = vec![
        ("GET", "/jobs/{J}".into(), Value::Null),
        ("GET", "/api/jobs/{J}".into(), Value::Null),
        ("GET", "/jobs/{J}/model".into(), Value::Null),
        ("POST", "/jobs/{J}/cancel".into(), json!({})),
        ("POST", "/jobs/{J}/predict".into(), json!({"rows": [{"bill_length_mm": 40.0}]})),
        ("GET", "/datasets/{D}".into(), Value::Null),
        ("DELETE", "/datasets/{D}".into(), Value::Null),
        ("POST", "/train".into(), baseline_job("{D}")),
        ("POST", "/api/jobs".into(), baseline_job("{D}")),
    ];
    for (method, path, body) in cases {
        let mut answers = vec![];
        for (j, d) in [(&running, &theirs), (&ghost, &ghost_set)] {
            let path = path.replace("{J}", j).replace("{D}", d);
            let body = body.to_string().replace("{D}", d);
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let response = bob_client.request(method, format!("{url}{path}")).header("content-type", "application/json").body(body).send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap().replace(j.as_str(), "ID").replace(d.as_str(), "ID");
            answers.push((status, text));
        }
        assert_eq!(answers[0].0, 404, "{method} {path}: {answers:?}");
        assert_eq!(answers[0], answers[1], "{method} {path}: another member's object must answer as a missing one");
    }
    // Predicting with Bob's own model is not the question here; with Alice's dataset on his own job it is.
    let own_job = submit_as(url, &bob, &baseline_job(&mine)).await;
    deadline = Instant::now() + Duration::from_secs(60);
    while get_json_as(url, &bob, &format!("/jobs/{own_job}")).await.1["data"]["status"] != "completed" {
        assert!(Instant::now() < deadline, "bob's job did not complete");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status_theirs, body_theirs) = post_json_as(url, &bob, &format!("/jobs/{own_job}/predict"), &json!({"datasetId": theirs})).await;
    let (status_ghost, body_ghost) = post_json_as(url, &bob, &format!("/jobs/{own_job}/predict"), &json!({"datasetId": ghost_set})).await;
    assert_eq!((status_theirs, status_ghost), (404, 404));
    assert_eq!(body_theirs.to_string().replace(&theirs, "ID"), body_ghost.to_string().replace(&ghost_set, "ID"));
    // The WebSocket, by header and by ?access_token=.
    for ws in [ws_url(url, &running), format!("{}?access_token={bob}", ws_url(url, &running))] {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = ws.as_str().into_client_request().unwrap();
        request.headers_mut().insert("authorization", format!("Bearer {bob}").parse().unwrap());
        match tokio_tungstenite::connect_async(request).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 404),
            other => panic!("bob opened alice's socket: {:?}", other.map(|(_, r)| r.status())),
        }
    }
    let alice_ws = format!("{}?access_token={alice}", ws_url(url, &job));
    let events = collect(tokio_tungstenite::connect_async(alice_ws).await.unwrap().0, Duration::from_secs(10)).await;
    assert_complete_sequence(&events, "complete");
    // Listings: nothing of Alice's in Bob's; the admin sees both, with owners.
    let (_, jobs) = get_json_as(url, &bob, "/jobs").await;
    assert_eq!(jobs["total"], 1, "{jobs}");
    assert!(!jobs.to_string().contains(&theirs) && !jobs.to_string().contains(&job));
    let (_, by_dataset) = get_json_as(url, &bob, &format!("/jobs?datasetId={theirs}")).await;
    assert_eq!(by_dataset["total"], 0);
    let (_, sets) = get_json_as(url, &bob, "/datasets").await;
    assert_eq!(sets["data"].as_array().unwrap().len(), 1);
    assert!(!sets.to_string().contains(&theirs) && !sets.to_string().contains("owner"), "{sets}");
    let (_, all) = get_json(url, "/jobs").await;
    assert_eq!(all["total"], 3);
    assert!(all["data"].as_array().unwrap().iter().any(|j| j["owner"] == "alice"), "{all}");
    let (_, all_sets) = get_json(url, "/datasets").await;
    assert!(all_sets["data"].as_array().unwrap().iter().any(|d| d["owner"] == "bob"), "{all_sets}");
    // The admin manages everything: cancels Alice's job.
    let (status, body) = post_json(url, &format!("/jobs/{running}/cancel"), &json!({})).await;
    assert_eq!(status, 202, "{body}");
    let (status, me) = get_json_as(url, &alice, "/me").await;
    assert_eq!((status, me["data"]["name"].as_str(), me["data"]["role"].as_str()), (200, Some("alice"), Some("member")), "{me}");
    assert!(me["data"]["usage"]["datasetBytes"].as_u64().unwrap() > 0, "{me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_members_objects_answer_as_missing_ones_on_the_embedded_broker() {
    let dir = temp_dir();
    let server = Process::serve(&Setup::embedded(dir.path()), &[]);
    wait_ready(&server.url).await;
    assert_isolated(&server.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_members_objects_answer_as_missing_ones_on_redis() {
    let dir = temp_dir();
    let setup = Setup::redis(dir.path());
    let server = Process::serve(&setup, &[]);
    wait_ready(&server.url).await;
    assert_isolated(&server.url).await;
    setup.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_stops_on_another_api_node_within_a_second() {
    let dir = temp_dir();
    let setup = Setup::redis(dir.path());
    let node_a = Process::serve(&setup, &["--api-only"]);
    let node_b = Process::serve(&setup, &["--api-only"]);
    wait_ready(&node_a.url).await;
    wait_ready(&node_b.url).await;
    let carol = add_user(&node_a.url, "carol", "member").await;
    assert_eq!(get_json_as(&node_b.url, &carol, "/me").await.0, 200, "a user made on one node works on the other at once");
    let (status, body) = client().delete(format!("{}/admin/users/carol/tokens", node_a.url)).send().await.map(|r| (r.status(), r)).unwrap();
    assert_eq!(status, 200, "{:?}", body.text().await);
    let revoked = Instant::now();
    loop {
        if get_json_as(&node_b.url, &carol, "/me").await.0 == 401 {
            break;
        }
        assert!(revoked.elapsed() < Duration::from_secs(1), "node B still takes the revoked token");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!("revoked token refused by the other node after {:?}", revoked.elapsed());
    // A new token works again; disabling the user stops it everywhere too.
    let (status, fresh) = post_json(&node_a.url, "/admin/users/carol/tokens", &json!({})).await;
    assert_eq!(status, 201, "{fresh}");
    let fresh = fresh["data"]["token"].as_str().unwrap().to_string();
    assert_eq!(get_json_as(&node_b.url, &fresh, "/me").await.0, 200);
    let response = client().patch(format!("{}/admin/users/carol", node_a.url)).json(&json!({"disabled": true})).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(get_json_as(&node_b.url, &fresh, "/me").await.0, 401);
    setup.cleanup().await;
}

/// 20 submits at once at a limit of 2 active jobs: exactly 2 accepted; then
/// the hourly limit answers with `Retry-After`, and the stored-bytes limit refuses an upload.
async fn assert_quotas_hold(url: &str) {
    let dave = add_user(url, "dave", "member").await;
    let response = client().patch(format!("{url}/admin/users/dave")).json(&json!({"quota": {"activeJobs": 2}})).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let dataset = upload_as(url, &dave, &testdata("penguins.csv")).await["id"].as_str().unwrap().to_string();
    let body = slow_job(&dataset, 300, 100);
    let submits: Vec<_> = (0..20)
        .map(|_| {
            let (url, token, body) = (url.to_string(), dave.clone(), body.clone());
            tokio::spawn(async move { post_json_as(&url, &token, "/train", &body).await })
        })
        .collect();
    let mut answers = vec![];
    for submit in submits {
        answers.push(submit.await.unwrap());
    }
    let accepted: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 202).map(|(_, b)| b).collect();
    assert_eq!(accepted.len(), 2, "{answers:?}");
    for (status, body) in answers.iter().filter(|(s, _)| *s != 202) {
        assert_eq!(*status, 429, "{body}");
        assert_eq!((body["error"]["code"].as_str(), body["error"]["quota"].as_str()), (Some("quota_exceeded"), Some("active_jobs")), "{body}");
        assert_eq!((body["error"]["limit"].as_u64(), body["error"]["used"].as_u64()), (Some(2), Some(2)), "{body}");
    }
    let (_, me) = get_json_as(url, &dave, "/me").await;
    assert_eq!(me["data"]["usage"]["activeJobs"], 2, "{me}");
    // The hourly limit: 2 submitted this hour; waiting helps, and the answer says how long.
    let response = client().patch(format!("{url}/admin/users/dave")).json(&json!({"quota": {"activeJobs": 0, "jobsPerHour": 2}})).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let response = client_as(&dave).post(format!("{url}/train")).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 429);
    let retry: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 3000 && retry <= 3600, "{retry}");
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["quota"], "jobs_per_hour", "{error}");
    // Stored dataset bytes: one more penguins.csv does not fit.
    let size = std::fs::metadata(testdata("penguins.csv")).unwrap().len();
    let response = client().patch(format!("{url}/admin/users/dave")).json(&json!({"quota": {"datasetBytes": size + size / 2}})).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let form =
        reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(std::fs::read(testdata("penguins.csv")).unwrap()).file_name("p.csv"));
    let response = client_as(&dave).post(format!("{url}/datasets")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 429);
    let error: Value = response.json().await.unwrap();
    assert_eq!((error["error"]["quota"].as_str(), error["error"]["used"].as_u64()), (Some("dataset_bytes"), Some(size)), "{error}");
    // Deleting the dataset gives its bytes back.
    assert_eq!(client_as(&dave).delete(format!("{url}/datasets/{dataset}")).send().await.unwrap().status(), 200);
    let (_, me) = get_json_as(url, &dave, "/me").await;
    assert_eq!(me["data"]["usage"]["datasetBytes"], 0, "{me}");
    for (_, body) in answers.iter().filter(|(s, _)| *s == 202) {
        let _ = post_json(url, &format!("/jobs/{}/cancel", body["data"]["jobId"].as_str().unwrap()), &json!({})).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_hold_under_concurrent_submits_on_the_embedded_broker() {
    let dir = temp_dir();
    let server = Process::serve(&Setup::embedded(dir.path()), &[]);
    wait_ready(&server.url).await;
    assert_quotas_hold(&server.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_hold_under_concurrent_submits_on_two_redis_api_nodes() {
    let dir = temp_dir();
    let setup = Setup::redis(dir.path());
    let server = Process::serve(&setup, &[]);
    wait_ready(&server.url).await;
    assert_quotas_hold(&server.url).await;
    // Two API nodes racing for the last slot of one user.
    let erin = add_user(&server.url, "erin", "member").await;
    let other = Process::serve(&setup, &["--api-only"]);
    wait_ready(&other.url).await;
    client().patch(format!("{}/admin/users/erin", server.url)).json(&json!({"quota": {"activeJobs": 1}})).send().await.unwrap();
    let dataset = upload_as(&server.url, &erin, &testdata("penguins.csv")).await["id"].as_str().unwrap().to_string();
    let body = slow_job(&dataset, 300, 100);
    let racers: Vec<_> = (0..10)
        .map(|i| {
            let url = if i % 2 == 0 { server.url.clone() } else { other.url.clone() };
            let (token, body) = (erin.clone(), body.clone());
            tokio::spawn(async move { post_json_as(&url, &token, "/train", &body).await.0 })
        })
        .collect();
    let mut statuses = vec![];
    for racer in racers {
        statuses.push(racer.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 202).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 9, "{statuses:?}");
    setup.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_needs_its_csrf_header_for_changes_and_ends_on_sign_out() {
    let dir = temp_dir();
    let (server, dataset) = serve_with_penguins(dir.path()).await;
    let url = &server.url;
    let response = anonymous_client().post(format!("{url}/auth/session")).json(&json!({"token": ADMIN_TOKEN})).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap().to_string();
    for part in ["trainhost_session=th_", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(part), "{set_cookie}");
    }
    // Plain HTTP: a `Secure` cookie would never come back (tests/tls.rs has the HTTPS side).
    assert!(!set_cookie.contains("Secure") && !response.headers().contains_key("strict-transport-security"), "{set_cookie}");
    let csrf = response.json::<Value>().await.unwrap()["data"]["csrf"].as_str().unwrap().to_string();
    let cookie = set_cookie.split(';').next().unwrap().to_string();
    let with_cookie = |r: reqwest::RequestBuilder| r.header("cookie", cookie.clone());
    let me: Value = with_cookie(anonymous_client().get(format!("{url}/me"))).send().await.unwrap().json().await.unwrap();
    assert_eq!((me["data"]["name"].as_str(), me["data"]["csrf"].as_str()), (Some("admin"), Some(csrf.as_str())), "{me}");
    let refused = with_cookie(anonymous_client().post(format!("{url}/train"))).json(&baseline_job(&dataset)).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(refused.json::<Value>().await.unwrap()["error"]["code"], "forbidden");
    let wrong =
        with_cookie(anonymous_client().post(format!("{url}/train"))).header("x-csrf-token", "0".repeat(64)).json(&baseline_job(&dataset)).send().await.unwrap();
    assert_eq!(wrong.status(), 403);
    let accepted =
        with_cookie(anonymous_client().post(format!("{url}/train"))).header("x-csrf-token", &csrf).json(&baseline_job(&dataset)).send().await.unwrap();
    assert_eq!(accepted.status(), 202);
    // The WebSocket takes the cookie.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let job = accepted.json::<Value>().await.unwrap()["data"]["jobId"].as_str().unwrap().to_string();
    let mut request = ws_url(url, &job).into_client_request().unwrap();
    request.headers_mut().insert("cookie", cookie.parse().unwrap());
    let events = collect(tokio_tungstenite::connect_async(request).await.unwrap().0, Duration::from_secs(30)).await;
    assert_complete_sequence(&events, "complete");
    let out = with_cookie(anonymous_client().delete(format!("{url}/auth/session"))).header("x-csrf-token", &csrf).send().await.unwrap();
    assert_eq!(out.status(), 200);
    assert!(out.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(with_cookie(anonymous_client().get(format!("{url}/me"))).send().await.unwrap().status(), 401, "a session ended stays ended");
    let bad = anonymous_client().post(format!("{url}/auth/session")).json(&json!({"token": "th_wrong"})).send().await.unwrap();
    assert_eq!(bad.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_admin_gets_a_random_token_printed_as_a_url_and_kept_in_a_0600_file() {
    let dir = temp_dir();
    let setup = Setup::embedded(dir.path());
    let mut command = trainhost_command(&setup.config_path());
    command.env_remove("TRAINHOST_AUTH_BOOTSTRAP_TOKEN").env("TRAINHOST_LOG", "info").args(["serve"]);
    let mut server = Process::spawn(command, false);
    let listening = server.wait_for_line(LISTENING, Duration::from_secs(120));
    let url = listening.strip_prefix(LISTENING).unwrap().split_whitespace().next().unwrap().to_string();
    let line = server.wait_for_line("admin sign-in", Duration::from_secs(10));
    let token = line.split("#token=").nth(1).unwrap().trim().to_string();
    assert!(line.contains(&format!("{url}/#token=")), "{line}");
    assert_eq!(token.len(), 3 + 64, "{token}");
    let file = dir.path().join("data/admin-token");
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), token);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let (status, me) = get_json_as(&url, &token, "/me").await;
    assert_eq!((status, me["data"]["role"].as_str()), (200, Some("admin")), "{me}");
    assert_eq!(get_json(&url, "/me").await.0, 401, "the kit's token was not the bootstrap token here");
    // Audit: the failed attempt above is one JSON line with user, action, object and outcome.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let audit: Vec<Value> = server.log.lines_with("\"target\":\"audit\"").iter().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(
        audit.iter().any(|a| a["action"] == "authenticate" && a["outcome"].as_str().unwrap_or("").starts_with("denied") && a["object"] == "/me"),
        "{audit:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_none_keeps_the_older_contract() {
    let dir = temp_dir();
    let mut setup = Setup::embedded(dir.path());
    setup.env.push(("TRAINHOST_AUTH_MODE".into(), "none".into()));
    let server = Process::serve(&setup, &[]);
    wait_ready(&server.url).await;
    let url = &server.url;
    let form =
        reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(std::fs::read(testdata("penguins.csv")).unwrap()).file_name("p.csv"));
    let response = anonymous_client().post(format!("{url}/datasets")).multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let dataset = response.json::<Value>().await.unwrap()["data"]["id"].as_str().unwrap().to_string();
    let response = anonymous_client().post(format!("{url}/train")).json(&baseline_job(&dataset)).send().await.unwrap();
    assert_eq!(response.status(), 202);
    let jobs: Value = anonymous_client().get(format!("{url}/jobs")).send().await.unwrap().json().await.unwrap();
    assert_eq!(jobs["total"], 1);
    assert!(jobs["data"][0].get("owner").is_none(), "no owner field without accounts: {jobs}");
    assert!(server.log.lines_with("sign-in").is_empty(), "no admin is made without accounts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_command_manages_a_running_server() {
    let dir = temp_dir();
    let setup = Setup::embedded(dir.path());
    let server = Process::serve(&setup, &[]);
    wait_ready(&server.url).await;
    let users = |args: &[&str]| {
        let output = trainhost_command(&setup.config_path()).arg("users").args(args).args(["--url", &server.url]).output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr);
        (output.status.success(), text)
    };
    let (ok, added) = users(&["add", "frank"]);
    assert!(ok, "{added}");
    let token = added.split("(shown once): ").nth(1).unwrap().trim().to_string();
    assert_eq!(get_json_as(&server.url, &token, "/me").await.1["data"]["name"], "frank");
    let (ok, list) = users(&["list"]);
    assert!(ok && list.contains("frank") && list.contains("member") && list.contains("admin"), "{list}");
    let (ok, issued) = users(&["token", "frank"]);
    assert!(ok, "{issued}");
    let second = issued.split("(shown once): ").nth(1).unwrap().trim().to_string();
    assert_eq!(get_json_as(&server.url, &second, "/me").await.0, 200);
    let (ok, disabled) = users(&["disable", "frank"]);
    assert!(ok, "{disabled}");
    assert_eq!(get_json_as(&server.url, &second, "/me").await.0, 401);
    let (ok, refused) = users(&["add", "frank"]);
    assert!(!ok && refused.contains("already exists"), "{refused}");
    let mut no_token = trainhost_command(&setup.config_path());
    let output = no_token.env_remove("TRAINHOST_TOKEN").args(["users", "list", "--url", &server.url]).output().unwrap();
    assert!(!output.status.success() && String::from_utf8_lossy(&output.stderr).contains("TRAINHOST_TOKEN"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_are_limited_per_address() {
    let dir = temp_dir();
    let mut setup = Setup::embedded(dir.path());
    setup.env.push(("TRAINHOST_AUTH_FAILED_PER_MINUTE".into(), "5".into()));
    let server = Process::serve(&setup, &[]);
    wait_ready(&server.url).await;
    let mut statuses = vec![];
    for i in 0..7 {
        statuses.push(get_json_as(&server.url, &format!("th_guess_{i}"), "/jobs").await.0);
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
    let response = client().get(format!("{}/jobs", server.url)).send().await.unwrap();
    assert_eq!(response.status(), 429, "even a good token waits out the minute from that address");
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_reserved_for_a_dataset_a_crash_never_stored_are_given_back_at_start() {
    let dir = temp_dir();
    let setup = Setup::embedded(dir.path());
    let mut server = Process::serve(&setup, &[]);
    wait_ready(&server.url).await;
    let alice = add_user(&server.url, "alice", "member").await;
    let stored = upload_as(&server.url, &alice, &testdata("penguins.csv")).await;
    let (_, me) = get_json_as(&server.url, &alice, "/me").await;
    let used = me["data"]["usage"]["datasetBytes"].as_u64().unwrap();
    assert_eq!(Some(used), stored["sizeBytes"].as_u64(), "{me}");
    server.terminate();

    // What a crash after reserving and before storing leaves: bytes counted
    // for a dataset id that has no record.
    let file = dir.path().join("data/broker/accounts.json");
    let mut saved: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let lost = uuid::Uuid::new_v4().to_string();
    saved["datasets"]["alice"][&lost] = json!(5_000_000);
    std::fs::write(&file, serde_json::to_vec(&saved).unwrap()).unwrap();

    let server = Process::serve(&setup, &[]);
    wait_ready(&server.url).await;
    let (_, me) = get_json_as(&server.url, &alice, "/me").await;
    assert_eq!(me["data"]["usage"]["datasetBytes"].as_u64(), Some(used), "only the stored dataset counts after the restart: {me}");
    let released = server.log.lines_with("never stored");
    assert!(released.len() == 1 && released[0].contains(&lost), "{released:?}");
    let (status, _) = get_json_as(&server.url, &alice, &format!("/datasets/{}", stored["id"].as_str().unwrap())).await;
    assert_eq!(status, 200, "the stored dataset is untouched");
}
