//! What a WebSocket client sends to `WS /ws/{jobId}`, read with the limits the
//! server sets, each outcome mapped to the close code the server answers.
#![no_main]

use std::io::{Read, Write};

use libfuzzer_sys::fuzz_target;
use trainhost::api::ws;
use tungstenite::protocol::{Role, WebSocket};

/// The client's bytes to read; what the server writes back (pongs, close) is dropped.
struct Wire<'a>(&'a [u8]);

impl Read for Wire<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl Write for Wire<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fuzz_target!(|data: &[u8]| {
    let mut socket = WebSocket::from_raw_socket(Wire(data), Role::Server, Some(ws::client_config()));
    for _ in 0..64 {
        match socket.read() {
            // Text and binary are refused (ws::DATA_REFUSAL); ping, pong and close are taken.
            Ok(message) if message.is_text() || message.is_binary() => return,
            Ok(_) => {}
            Err(e) => {
                if let Some((code, reason)) = ws::refusal_of_error(&e) {
                    assert!([1002, 1007, 1009].contains(&code), "{code} {reason}");
                }
                return;
            }
        }
    }
});
