//! A plugin that misbehaves on purpose, used only by the host's sandbox tests.
//! Each cargo feature builds one kind of misbehaviour into `train`:
//! `endless-loop`, `memory-bomb`, `panic`, `escape` (opens a file and a socket),
//! `log-flood`, `huge-model`, `sleep` (one hour-long `thread::sleep`). With no
//! feature it trains a trivial model, so a test can tell the misbehaviour from a
//! broken build. (The well-behaved `slow` fixture is its own crate, `test_slow`.)

// Only meaningful as a component; natively the crate is empty.
#![cfg(target_arch = "wasm32")]

use trainhost_sdk::*;

struct Component;

fn name() -> &'static str {
    if cfg!(feature = "endless-loop") {
        "endless_loop"
    } else if cfg!(feature = "memory-bomb") {
        "memory_bomb"
    } else if cfg!(feature = "panic") {
        "panic"
    } else if cfg!(feature = "escape") {
        "escape"
    } else if cfg!(feature = "log-flood") {
        "log_flood"
    } else if cfg!(feature = "huge-model") {
        "huge_model"
    } else if cfg!(feature = "sleep") {
        "sleep"
    } else {
        "well_behaved"
    }
}

#[allow(unreachable_code)]
fn misbehave(rows: u32) -> Result<Vec<u8>, TrainError> {
    let _ = rows;
    #[cfg(feature = "endless-loop")]
    {
        // Never polls `cancelled()`: only the host's hard stop can end this.
        let mut x: u64 = rows as u64;
        loop {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    #[cfg(feature = "memory-bomb")]
    {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1u8; 16 << 20]);
            std::hint::black_box(&hoard);
        }
    }
    #[cfg(feature = "panic")]
    {
        let index = rows as usize + 10;
        let data = vec![0u8; rows as usize];
        // An out-of-bounds index panics with Rust's own message.
        return Ok(vec![data[index]]);
    }
    #[cfg(feature = "escape")]
    {
        let file = std::fs::read("/etc/passwd").map(|b| b.len());
        let socket = std::net::TcpStream::connect("127.0.0.1:6379").map(|_| ());
        return match (file, socket) {
            (Err(f), Err(s)) => Err(TrainError::Failed(format!("file access denied: {f}; socket denied: {s}"))),
            (f, s) => Ok(format!("escaped! file={f:?} socket={s:?}").into_bytes()),
        };
    }
    #[cfg(feature = "log-flood")]
    {
        let line = "x".repeat(1000);
        for i in 0..20_000u32 {
            host::log(LogLevel::Info, &format!("{i} {line}"));
            println!("stdout {i} {line}");
        }
        return Ok(vec![1]);
    }
    #[cfg(feature = "huge-model")]
    {
        return Ok(vec![7u8; 24 << 20]);
    }
    #[cfg(feature = "sleep")]
    {
        // Blocks inside one host call (a wasi:io/poll wait on a monotonic-clock
        // pollable): no wasm code runs meanwhile and `cancelled()` is never asked.
        std::thread::sleep(std::time::Duration::from_secs(3600));
        return Ok(vec![2]);
    }
    Ok(vec![rows as u8])
}

impl Guest for Component {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: name().into(),
            version: "0.1.0".into(),
            description: "misbehaves on purpose (test only)".into(),
            tasks: vec![Task::Classification, Task::Regression, Task::Clustering],
            params: vec![],
        }
    }

    fn train(request: TrainRequest) -> Result<Trained, TrainError> {
        let model = misbehave(request.train.features.rows)?;
        Ok(Trained { model: TrainedModel { model, metrics: vec![], feature_importances: None, cluster_sizes: None }, tables: vec![] })
    }

    /// Declares no estimate: admitted as a 0.2.0 plugin would be.
    fn estimate(task: Task, params: Vec<Param>, shape: TableShape) -> Result<Option<Cost>, TrainError> {
        no_estimate(task, &params, &shape)
    }

    fn predict(_model: Vec<u8>, features: Table) -> Result<Predictions, PredictError> {
        Ok(Predictions::Clusters(vec![0; features.rows as usize]))
    }
}

export_plugin!(Component);
