//! `ale pm replay` end to end, running the built binary (pm.md §10).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn published_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ale-risk/tests/data/pm")
}

fn published() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(published_dir())
        .expect("published cases")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 3);
    files
}

fn ale(args: &[&str], files: &[PathBuf]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ale"))
        .args(args)
        .args(files)
        .output()
        .expect("run ale")
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("utf-8")
}

/// A scratch directory unique to one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ale-pm-replay-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn case(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json")
}

#[test]
fn published_cases_pass_check() {
    let files = published();
    let out = ale(&["pm", "replay", "--check"], &files);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    let got = lines(&out);
    assert_eq!(got.len(), 3);
    for (line, path) in got.iter().zip(&files) {
        let c = case(path);
        assert_eq!(line["id"], c["id"]);
        let keys: Vec<&str> = line
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["id", "option_mtm", "mm", "im", "scenario_pnl"]);
        let want = &c["expected"];
        for (k, w) in [("mm", "MM"), ("im", "IM"), ("option_mtm", "option_mtm")] {
            let (g, w) = (line[k].as_f64().expect(k), want[w].as_f64().expect(w));
            assert!((g - w).abs() <= 1e-8 * w.abs().max(1.0), "{k}: {g} vs {w}");
        }
        assert_eq!(line["scenario_pnl"].as_array().expect("pnl").len(), 31);
    }
}

#[test]
fn vectors_file_answers_every_case_and_reports_bad_ones() {
    let dir = scratch("vectors");
    let good = case(&published()[0]);
    let mut cases = vec![good.clone()];
    let mut edit = |id: &str, f: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        c["id"] = Value::from(id);
        f(&mut c);
        cases.push(c);
    };
    edit("missing_spot", &|c| {
        c["market"].as_object_mut().expect("market").remove("spot");
    });
    edit("ill_typed_amount", &|c| {
        c["portfolio"]["options"][0]["amount"] = Value::from("lots")
    });
    edit("inadmissible_mm_factor", &|c| {
        c["params"]["margin"]["mm_factor"] = Value::from(12.0)
    });
    edit("skew_off_one", &|c| {
        c["scenarios"][29]["spot_shock"] = Value::from(1.1)
    });
    edit("expiry_absent", &|c| {
        c["portfolio"]["options"][0]["sec_to_expiry"] = Value::from(1234)
    });
    edit("missing_param", &|c| {
        c["params"]["skew_shock"]
            .as_object_mut()
            .expect("group")
            .remove("width_scale");
    });
    edit("bad_vol_shock", &|c| {
        c["scenarios"][0]["vol_shock"] = Value::from("Sideways")
    });
    let mut no_id = good.clone();
    no_id.as_object_mut().expect("case").remove("id");
    cases.push(no_id);
    let mut last = good.clone();
    last["id"] = Value::from("last_good");
    cases.push(last);
    let path = dir.join("vectors.json");
    std::fs::write(
        &path,
        serde_json::json!({ "vectors": cases, "comment": "ignored" }).to_string(),
    )
    .expect("write");

    let out = ale(&["pm", "replay"], &[path]);
    assert_eq!(out.status.code(), Some(1));
    let got = lines(&out);
    assert_eq!(got.len(), 10);
    assert_eq!(got[0]["id"], good["id"]);
    assert!(got[0].get("mm").is_some());
    let expect_error = |i: usize, id: Value, needle: &str| {
        assert_eq!(got[i]["id"], id, "line {i}");
        let msg = got[i]["error"]
            .as_str()
            .unwrap_or_else(|| panic!("line {i} has no error: {}", got[i]));
        assert!(
            msg.contains(needle),
            "line {i}: {msg:?} should name {needle:?}"
        );
        assert!(got[i].get("mm").is_none());
    };
    expect_error(1, "missing_spot".into(), "market.spot: missing field");
    expect_error(2, "ill_typed_amount".into(), "portfolio.options[0].amount");
    expect_error(
        3,
        "inadmissible_mm_factor".into(),
        "params.margin.mm_factor': must be in [0.1, 10], got 12",
    );
    expect_error(4, "skew_off_one".into(), "scenarios[29].spot_shock");
    expect_error(
        5,
        "expiry_absent".into(),
        "portfolio.options[0].sec_to_expiry",
    );
    expect_error(
        6,
        "missing_param".into(),
        "params.skew_shock.width_scale: missing field",
    );
    expect_error(7, "bad_vol_shock".into(), "scenarios[0].vol_shock");
    expect_error(8, Value::Null, "id: missing field");
    assert_eq!(got[9]["id"], "last_good");
    assert_eq!(got[9]["mm"], got[0]["mm"]);
    let err = stderr(&out);
    assert_eq!(
        err.lines().count(),
        8,
        "one stderr line per bad case: {err}"
    );
    assert!(err.contains("expiry_absent"), "{err}");
}

#[test]
fn non_json_file_gives_one_error_line_naming_it() {
    let dir = scratch("nonjson");
    let bad = dir.join("garbage.json");
    std::fs::write(&bad, "this is { not json").expect("write");
    let files = vec![bad.clone(), published()[2].clone()];
    let out = ale(&["pm", "replay", "--check"], &files);
    assert_eq!(out.status.code(), Some(1));
    let got = lines(&out);
    assert_eq!(got.len(), 2);
    let msg = got[0]["error"].as_str().expect("error");
    assert!(msg.contains("garbage.json"), "{msg}");
    assert!(got[1].get("mm").is_some());
    assert!(stderr(&out).contains("garbage.json"));
}

#[test]
fn check_reports_the_first_mismatching_field() {
    let dir = scratch("mismatch");
    let mut c = case(&published()[1]);
    let want = c["expected"]["scenario_pnl"][7].as_f64().expect("pnl") + 0.5;
    c["expected"]["scenario_pnl"][7] = Value::from(want);
    c["expected"]["IM"] = Value::from(1.0); // later field: not the first mismatch
    let path = dir.join("tweaked.json");
    std::fs::write(&path, c.to_string()).expect("write");

    let out = ale(&["pm", "replay", "--check"], std::slice::from_ref(&path));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines(&out).len(), 1, "the JSON line is printed either way");
    let err = stderr(&out);
    let id = c["id"].as_str().expect("id");
    let line = err.lines().next().expect("a stderr line");
    assert!(
        line.starts_with(&format!("mismatch {id}: scenario_pnl[7] got ")),
        "{line}"
    );
    assert!(line.ends_with(&format!(" want {want}")), "{line}");
    assert_eq!(err.lines().count(), 1);
    // Within tolerance (1e-6 absolute): passes.
    let mut c = case(&published()[1]);
    let v = c["expected"]["scenario_pnl"][7].as_f64().expect("pnl");
    c["expected"]["scenario_pnl"][7] = Value::from(v + 5e-7);
    std::fs::write(&path, c.to_string()).expect("write");
    assert_eq!(
        ale(&["pm", "replay", "--check"], std::slice::from_ref(&path))
            .status
            .code(),
        Some(0)
    );
    // A wrong number of P&Ls is reported before any value.
    c["expected"]["scenario_pnl"]
        .as_array_mut()
        .expect("pnl")
        .pop();
    c["expected"]["option_mtm"] = Value::from(0.0);
    std::fs::write(&path, c.to_string()).expect("write");
    let out = ale(&["pm", "replay", "--check"], std::slice::from_ref(&path));
    assert!(
        stderr(&out).contains(": option_mtm got "),
        "{}",
        stderr(&out)
    );
    // Without --check the expected block is not read.
    let out = ale(&["pm", "replay"], &[path]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).is_empty());
}

#[test]
fn unreadable_file_is_exit_2_and_help_has_an_example() {
    let out = ale(
        &["pm", "replay"],
        &[PathBuf::from("/nonexistent/pm-case.json")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/pm-case.json"));
    let help = ale(&["pm", "replay", "--help"], &[]);
    assert_eq!(help.status.code(), Some(0));
    let text = String::from_utf8(help.stdout).expect("utf-8");
    assert!(
        text.contains("Example:") && text.contains("ale pm replay --check"),
        "{text}"
    );
}
