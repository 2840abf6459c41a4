//! The dashboard in a real browser: `ale demo` serves it, headless Chromium renders it after the
//! crash, the DOM must show the book, the ranking and the heat map, and a screenshot is saved to
//! `target/screenshots/`. CI installs Chromium (`.ci/run`); elsewhere the test is skipped with a
//! message when no Chromium is found.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn chromium() -> Option<PathBuf> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn browser(
    bin: &std::path::Path,
    profile: &std::path::Path,
    extra: &[&str],
    url: &str,
) -> std::process::Output {
    Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,1700",
            "--virtual-time-budget=8000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stderr(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn the_dashboard_renders_the_book_in_headless_chromium() {
    let Some(chrome) = chromium() else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have Chromium: .ci/run installs it"
        );
        eprintln!("skipped: no Chromium on this machine");
        return;
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_ale"))
        .args([
            "demo",
            "--port",
            &port.to_string(),
            "--accounts",
            "300",
            "--crash-after-s",
            "2",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "demo did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let the crash happen (2 s, then ten ticks of 0.5 s).
    std::thread::sleep(Duration::from_secs(8));
    let out_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&out_dir).unwrap();
    let profile = std::env::temp_dir().join(format!("ale-chromium-{}", std::process::id()));
    let dom = browser(&chrome, &profile, &["--dump-dom"], &url);
    let html = String::from_utf8_lossy(&dom.stdout).to_string();
    let shot = out_dir.join("dashboard.png");
    browser(
        &chrome,
        &profile,
        &[&format!("--screenshot={}", shot.display())],
        &url,
    );
    // The account page of the account ranked first.
    let first = html
        .split("data-id=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("trader-00000")
        .to_string();
    let account_url = format!("{url}#account={first}");
    let account_dom = browser(&chrome, &profile, &["--dump-dom"], &account_url);
    let account_html = String::from_utf8_lossy(&account_dom.stdout).to_string();
    browser(
        &chrome,
        &profile,
        &[&format!(
            "--screenshot={}",
            out_dir.join("account.png").display()
        )],
        &account_url,
    );
    demo.kill().unwrap();
    demo.wait().unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    assert!(html.contains("ALE keeper"), "{html}");
    // The ranking was filled from the API, and the crash left liquidatable accounts on top.
    assert!(html.contains("trader-"), "no account rows rendered");
    assert!(
        html.contains(">liquidatable<"),
        "no liquidatable account after the crash"
    );
    // The liquidation panels: auctions, the insurance fund, the balanced ledger, the signed
    // snapshot.
    for needle in [
        "Auctions",
        "insurance fund cash",
        "balanced",
        "signed snapshot #",
    ] {
        assert!(html.contains(needle), "dashboard lacks {needle:?}");
    }
    // The heat map was drawn (its header row names the spot moves).
    assert!(html.contains("-30%") && html.contains("+40"), "no heat map");
    assert!(shot.exists(), "no screenshot");
    // The account page explains the margin: components, liquidation prices, top-up.
    for needle in [
        "Components",
        "price",
        "vega",
        "gamma",
        "horizon",
        "top-up",
        "liquidation price",
        &first,
    ] {
        assert!(
            account_html.contains(needle),
            "account page lacks {needle:?}"
        );
    }
}
