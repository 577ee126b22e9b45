//! Runs through the real API, on penguins: a job carries a name and tags,
//! the history filters by tag and sorts by score (the headline metric on test
//! rows; a job scored on its training rows is not ranked among them), a job
//! is re-run with the same request as a new job, and jobs are compared side
//! by side (parameters in force and which differ, metrics, per-epoch curves).
//! Another member's job answers every one of these routes as a missing one.
//! Needs `scripts/build-plugins`.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use serde_json::{json, Value};

use common::{add_user, get_json, get_json_as, post_json, post_json_as, serve_with_penguins, submit, submit_as, temp_dir, upload_as, wait_status};

fn forest(dataset: &str, trees: u32, name: &str, tags: &[&str]) -> Value {
    json!({"datasetId": dataset, "targetColumn": "species", "taskType": "classification",
        "modelConfig": {"selectedModel": "random_forest", "nEstimators": trees, "maxDepth": 2}, "seed": 7, "name": name, "tags": tags})
}

async fn completed(url: &str, job: &str) -> Value {
    let job = wait_status(url, job, &["completed", "failed"], Duration::from_secs(120)).await;
    assert_eq!(job["status"], "completed", "{job}");
    job
}

fn ids(page: &Value) -> Vec<String> {
    page["data"].as_array().unwrap().iter().map(|j| j["jobId"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_named_tagged_sorted_by_score_re_run_and_compared() {
    let dir = temp_dir();
    let (server, ds) = serve_with_penguins(dir.path()).await;
    let url = &server.url;
    let small = submit(url, &forest(&ds, 3, "three stumps", &["forest", "small"])).await;
    let big = submit(url, &forest(&ds, 40, "forty trees", &["forest", "forest"])).await;
    let base = submit(
        url,
        &json!({"datasetId": ds, "targetColumn": "species", "taskType": "classification", "modelConfig": {"selectedModel": "baseline"}, "tags": ["base"]}),
    )
    .await;
    // No test rows: the score would be on the training rows, so it is none.
    let untested = submit(url, &json!({"datasetId": ds, "targetColumn": "species", "taskType": "classification", "modelConfig": {"selectedModel": "random_forest"}, "testFraction": 0, "pluginValidationFraction": 0})).await;
    let mut jobs: Vec<Value> = vec![];
    for job in [&small, &big, &base, &untested] {
        jobs.push(completed(url, job).await);
    }
    assert_eq!((jobs[0]["name"].as_str(), jobs[0]["tags"].clone()), (Some("three stumps"), json!(["forest", "small"])));
    assert_eq!(jobs[1]["tags"], json!(["forest"]), "a tag given twice is kept once");
    for job in &jobs[..3] {
        assert_eq!(job["score"], job["results"]["accuracy"], "{job}");
    }
    assert_eq!((jobs[3]["score"].clone(), jobs[3]["results"]["summary"]["evaluated_on"].as_str()), (Value::Null, Some("train")));

    let (_, forests) = get_json(url, "/jobs?tag=forest").await;
    assert_eq!((forests["total"].as_u64(), ids(&forests)), (Some(2), vec![big.clone(), small.clone()]));
    let (_, ranked) = get_json(url, "/jobs?sort=score").await;
    let scores: Vec<Option<f64>> = ranked["data"].as_array().unwrap().iter().map(|j| j["score"].as_f64()).collect();
    let mut expected: Vec<f64> = jobs[..3].iter().map(|j| j["score"].as_f64().unwrap()).collect();
    expected.sort_by(|a, b| b.total_cmp(a));
    assert_eq!(scores, [expected.into_iter().map(Some).collect::<Vec<_>>(), vec![None]].concat(), "best first, the unscored last");
    assert!(scores[0] > Some(jobs[2]["score"].as_f64().unwrap()), "a forest beats the majority baseline on penguins");
    let (_, second) = get_json(url, "/jobs?sort=score&limit=1&offset=1").await;
    assert_eq!((second["total"].as_u64(), ids(&second)), (Some(4), vec![ids(&ranked)[1].clone()]));
    let (status, body) = get_json(url, "/jobs?sort=best").await;
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("sort")));

    // A re-run: the same request, a new job, the same seed, so the same score.
    let (status, accepted) = post_json(url, &format!("/jobs/{big}/rerun"), &json!({})).await;
    assert_eq!(status, 202, "{accepted}");
    let again = accepted["data"]["jobId"].as_str().unwrap().to_string();
    assert_ne!(again, big);
    let rerun = completed(url, &again).await;
    assert_eq!((rerun["rerunOf"].as_str(), rerun["name"].clone(), rerun["tags"].clone()), (Some(big.as_str()), jobs[1]["name"].clone(), json!(["forest"])));
    assert_eq!((rerun["modelConfig"].clone(), rerun["score"].clone()), (jobs[1]["modelConfig"].clone(), jobs[1]["score"].clone()));

    let (status, compared) = get_json(url, &format!("/jobs/compare?ids={small},{big},{base}")).await;
    assert_eq!(status, 200, "{compared}");
    let data = &compared["data"];
    let order: Vec<&str> = data["jobs"].as_array().unwrap().iter().map(|j| j["jobId"].as_str().unwrap()).collect();
    assert_eq!(order, [small.as_str(), big.as_str(), base.as_str()]);
    let differing: Vec<&str> = data["differingParams"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(differing.first(), Some(&"selectedModel"));
    assert!(differing.contains(&"nEstimators") && differing.contains(&"maxDepth"), "{differing:?}");
    let first = &data["jobs"][0];
    assert_eq!((first["params"]["nEstimators"].as_u64(), first["score"].clone()), (Some(3), jobs[0]["score"].clone()));
    assert!(first["params"]["minSamplesLeaf"].is_number(), "a default in force is shown: {first}");
    assert_eq!(first["metrics"]["accuracy"], jobs[0]["results"]["metrics"]["accuracy"]);
    let curves = first["curves"].as_object().unwrap();
    assert!(!curves.is_empty() && curves.values().all(|c| c.as_array().unwrap().iter().all(|p| p["epoch"].is_u64() && p["value"].is_f64())), "{curves:?}");
    let (status, body) = get_json(url, &format!("/jobs/compare?ids={small}")).await;
    assert_eq!((status, body["error"]["field"].as_str()), (400, Some("ids")));

    // Bad names and tags are refused before anything is queued, naming the field.
    for (body, field) in [
        (json!({"tags": ["has space"]}), "tags"),
        (json!({"tags": "forest"}), "tags"),
        (json!({"tags": (0..11).map(|i| format!("t{i}")).collect::<Vec<_>>()}), "tags"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"name": 5}), "name"),
    ] {
        let mut request = forest(&ds, 3, "n", &[]);
        request.as_object_mut().unwrap().extend(body.as_object().unwrap().clone());
        let (status, answer) = post_json(url, "/train", &request).await;
        assert_eq!((status, answer["error"]["field"].as_str()), (400, Some(field)), "{body}: {answer}");
    }
    let (_, all) = get_json(url, "/jobs").await;
    assert_eq!(all["total"], 5, "nothing refused was queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_members_job_cannot_be_re_run_or_compared() {
    let dir = temp_dir();
    let (server, _) = serve_with_penguins(dir.path()).await;
    let url = &server.url;
    let alice = add_user(url, "alice", "member").await;
    let bob = add_user(url, "bob", "member").await;
    let theirs = upload_as(url, &alice, &common::testdata("penguins.csv")).await["id"].as_str().unwrap().to_string();
    let mine = upload_as(url, &bob, &common::testdata("penguins.csv")).await["id"].as_str().unwrap().to_string();
    let job = submit_as(url, &alice, &forest(&theirs, 3, "alice's", &["shared"])).await;
    let own = submit_as(url, &bob, &forest(&mine, 3, "bob's", &["shared"])).await;
    completed(url, &job).await;
    completed(url, &own).await;
    let ghost = uuid::Uuid::new_v4().to_string();
    for (real, missing) in [
        (post_json_as(url, &bob, &format!("/jobs/{job}/rerun"), &json!({})).await, post_json_as(url, &bob, &format!("/jobs/{ghost}/rerun"), &json!({})).await),
        (get_json_as(url, &bob, &format!("/jobs/compare?ids={own},{job}")).await, get_json_as(url, &bob, &format!("/jobs/compare?ids={own},{ghost}")).await),
    ] {
        assert_eq!(real.0, 404, "{real:?}");
        assert_eq!(real.1.to_string().replace(&job, "ID"), missing.1.to_string().replace(&ghost, "ID"), "answered as a missing job");
    }
    let (_, listed) = get_json_as(url, &bob, "/jobs?tag=shared&sort=score").await;
    assert_eq!(ids(&listed), vec![own.clone()], "a member's history holds only their jobs");
    let (status, _) = get_json_as(url, &alice, &format!("/jobs/compare?ids={own},{job}")).await;
    assert_eq!(status, 404);
}
