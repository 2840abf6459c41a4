//! The keeper as an operator runs it: `ale serve` killed with `kill -9` at random moments while a
//! client writes, restarted each time; every acknowledged write survives, nothing is applied
//! twice. Also a bounded load test on 127.0.0.1.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request with `Connection: close`; returns (status, body).
fn http(
    port: u16,
    method: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

struct Server {
    child: Child,
    port: u16,
}

fn start(config: &PathBuf, port: u16) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ale"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok((200, _)) = http(port, "GET", "/api/health", None, "") {
            return Server { child, port };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the keeper did not start on port {port}");
}

fn balance(port: u16, account: &str) -> f64 {
    let (_, body) = http(port, "GET", &format!("/api/accounts/{account}"), None, "").unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["collateral"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["asset"] == "USDC")
        .map(|c| c["amount"].as_str().unwrap().parse::<f64>().unwrap())
        .unwrap_or(0.0)
}

fn config(dir: &PathBuf, port: u16) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("keeper.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndb = \"{}\"\npolicy = \"ramm\"\nmarket = \"{}\"\naccounts = [\"{}\"]\napi_keys = [\"k3y\"]\n",
            dir.join("keeper.db").display(),
            repo("examples/market.json").display(),
            repo("examples/portfolio.json").display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn kill_dash_nine_loses_no_acknowledged_write_and_applies_none_twice() {
    let dir = std::env::temp_dir().join(format!("ale-kill9-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = free_port();
    let cfg = config(&dir, port);
    let mut server = start(&cfg, port);
    let initial = balance(port, "alice");
    let mut acknowledged = 0.0;
    let mut minute = 1;
    for round in 0..4 {
        // Write deposits for a while from another thread, then kill -9 mid-stream.
        let port = server.port;
        let start_minute = minute;
        let writer = std::thread::spawn(move || {
            let mut acked = 0.0;
            for i in 0..10_000 {
                let amount = 1.0 + (i % 7) as f64;
                let body = format!(
                    r#"{{"type":"deposit","time":"2026-11-24T{:02}:{:02}:00Z","account":"alice","asset":"USDC","amount":"{amount}"}}"#,
                    8 + (start_minute + i) / 60 % 16,
                    (start_minute + i) % 60
                );
                match http(port, "POST", "/api/events", Some("k3y"), &body) {
                    Ok((200, _)) => acked += amount,
                    // The request in flight when the server died: it may or may not be committed.
                    _ => return (acked, amount, i),
                }
            }
            (acked, 0.0, 10_000)
        });
        std::thread::sleep(Duration::from_millis(150 + 97 * round));
        server.child.kill().unwrap(); // SIGKILL
        server.child.wait().unwrap();
        let (acked, in_flight, sent) = writer.join().unwrap();
        minute += sent + 1;
        acknowledged += acked;
        server = start(&cfg, port);
        let now = balance(port, "alice");
        let expected = initial + acknowledged;
        // The one request in flight at the kill may or may not have been committed.
        assert!(
            (now - expected).abs() < 1e-9 || (now - expected - in_flight).abs() < 1e-9,
            "round {round}: balance {now}, acknowledged {expected}, in flight {in_flight}"
        );
        acknowledged = now - initial;
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bounded_load_test_on_loopback() {
    let dir = std::env::temp_dir().join(format!("ale-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = free_port();
    let cfg = config(&dir, port);
    let mut server = start(&cfg, port);
    // 4 clients × 200 reads, bounded in count and time.
    let started = Instant::now();
    let clients: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut ok = 0;
                for i in 0..200 {
                    let path = if i % 2 == 0 {
                        "/api/accounts/alice"
                    } else {
                        "/api/accounts?limit=10"
                    };
                    if let Ok((200, _)) = http(port, "GET", path, None, "") {
                        ok += 1;
                    }
                    if started.elapsed() > Duration::from_secs(60) {
                        break;
                    }
                }
                ok
            })
        })
        .collect();
    let ok: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(ok, 800);
    // Unauthenticated writes are refused, and counted.
    let (status, _) = http(port, "POST", "/api/events", None, r#"{"type":"deposit","time":"2026-11-24T08:01:00Z","account":"alice","asset":"USDC","amount":"1"}"#).unwrap();
    assert_eq!(status, 401);
    let (_, metrics) = http(port, "GET", "/metrics", None, "").unwrap();
    assert!(metrics.contains("ale_unauthorized_total"), "{metrics}");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
