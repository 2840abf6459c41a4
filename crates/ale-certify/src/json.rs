//! The JSON rendering of a certificate: every field of the binary layout, decoded for people
//! (fixed-point values as exact decimal strings, hashes and signatures as hex), and back.
//!
//! Lossless for every certificate this crate writes: `from_json(to_json(b)) == b`. The optional
//! `engine` block (the engine's f64 figures) is informational and not part of the bytes.

use ale_oracle::commit::{record, tag};
use ale_verify::layout::{
    decode_account, decode_record, flag, Policy, Record, NO_SCENARIO, STRIKE_SCALE,
};
use serde_json::{json, Map, Value};

use crate::encode::{decode, encode, CommitmentParts, Parts};
use crate::EngineFigures;

/// Names of the parameters, in the certificate's order.
pub fn param_names(policy: Policy) -> &'static [&'static str] {
    match policy {
        Policy::Ramm => &[
            "z_price",
            "scan_days",
            "range_min",
            "range_max",
            "spot_steps",
            "extreme_multiple",
            "extreme_weight",
            "max_down_move",
            "atm_min_days",
            "vol_ref_days",
            "vol_up",
            "vol_up_min",
            "vol_up_max",
            "vol_down",
            "vol_down_min",
            "vol_down_max",
            "vol_floor",
            "gamma_horizon_hours",
            "z_horizon",
            "auction_minutes",
            "slippage_delta_one",
            "slippage_option",
        ],
        Policy::Static => &["mm_rate"],
        Policy::OracleAdjusted => &["mm_rate", "vol_base", "factor_max", "atm_min_days"],
    }
}

/// `x / 10^decimals` as an exact decimal string.
pub fn decimal(x: i128, decimals: u32) -> String {
    let s = 10u128.pow(decimals);
    let sign = if x < 0 { "-" } else { "" };
    let m = x.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        m / s,
        m % s,
        width = decimals as usize
    )
}

/// Parses an exact decimal string with at most `decimals` decimals into an integer at that
/// scale.
pub fn parse_decimal(text: &str, decimals: u32) -> Result<i128, String> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, text),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || frac.len() > decimals as usize {
        return Err(format!(
            "'{text}' is not a decimal with at most {decimals} decimals"
        ));
    }
    let scale = 10i128.pow(decimals);
    let i: i128 = int.parse().map_err(|_| format!("'{text}' is too large"))?;
    let f: i128 = if frac.is_empty() {
        0
    } else {
        frac.parse::<i128>().map_err(|_| format!("'{text}'"))?
            * 10i128.pow(decimals - frac.len() as u32)
    };
    let v = i
        .checked_mul(scale)
        .and_then(|v| v.checked_add(f))
        .ok_or_else(|| format!("'{text}' is too large"))?;
    Ok(if neg { -v } else { v })
}

fn fx(x: i128) -> Value {
    Value::String(decimal(x, 18))
}

fn name16(b: &[u8; 16]) -> String {
    let end = b.iter().position(|c| *c == 0).unwrap_or(16);
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn commitment_json(c: &CommitmentParts) -> Value {
    json!({
        "root": hex::encode(c.root),
        "time_s": c.time_s,
        "seq": c.seq,
        "leaf_count": c.leaf_count,
        "signatures": c.sigs.iter().map(|(k, s)| json!({"key": k, "sig": hex::encode(s)})).collect::<Vec<_>>(),
    })
}

fn record_json(r: &[u8; 128], i: usize) -> Result<Value, String> {
    let rec = decode_record(r, i).map_err(|e| e.to_string())?;
    Ok(match rec {
        Record::Empty => json!({"kind": "empty"}),
        Record::Underlying {
            asset,
            spot,
            rate,
            realized_vol,
            perp_price,
            slice_count,
        } => json!({
            "kind": "underlying", "asset": name16(&asset), "spot": fx(spot), "rate": fx(rate),
            "realized_vol": realized_vol.map(fx), "perp_price": perp_price.map(fx),
            "slice_count": slice_count,
        }),
        Record::Forward {
            asset,
            expiry_s,
            forward,
        } => {
            json!({"kind": "forward", "asset": name16(&asset), "expiry_s": expiry_s, "forward": fx(forward)})
        }
        Record::Slice {
            asset,
            index,
            expiry_years,
            a,
            b,
            rho,
            m,
            sigma,
        } => json!({
            "kind": "svi_slice", "asset": name16(&asset), "index": index,
            "expiry_years": fx(expiry_years), "a": fx(a), "b": fx(b), "rho": fx(rho), "m": fx(m),
            "sigma": fx(sigma),
        }),
        Record::Collateral {
            asset,
            price,
            haircut,
            bridge_risk,
            moves_with,
        } => json!({
            "kind": "collateral", "asset": name16(&asset), "price": fx(price),
            "haircut": fx(haircut), "bridge_risk": fx(bridge_risk),
            "moves_with": moves_with.map(|m| name16(&m)),
        }),
    })
}

const KINDS: [&str; 5] = ["spot", "perpetual", "future", "call", "put"];

fn account_json(bytes: &[u8]) -> Result<Value, String> {
    let a = decode_account(bytes).map_err(|e| e.to_string())?;
    Ok(json!({
        "id": String::from_utf8_lossy(a.id),
        "collateral": a.collateral[..a.n_collateral].iter().map(|(asset, amount)| json!({
            "asset": name16(asset), "amount": fx(*amount)})).collect::<Vec<_>>(),
        "positions": a.positions[..a.n_positions].iter().map(|p| json!({
            "kind": KINDS[p.kind as usize],
            "underlying": name16(&p.underlying),
            "expiry_s": p.expiry_s,
            "strike": decimal(p.strike / (ale_verify::fixed::SCALE / i128::from(STRIKE_SCALE)), 8),
            "size": fx(p.size),
            "entry_price": p.entry_price.map(fx),
        })).collect::<Vec<_>>(),
    }))
}

/// The JSON rendering of certificate bytes, with the engine's figures when given.
pub fn to_json(bytes: &[u8], engine: Option<&EngineFigures>) -> Result<Value, String> {
    let p = decode(bytes).map_err(|e| e.to_string())?;
    let policy = Policy::from_code(p.policy).ok_or("bad policy")?;
    let mut params = Map::new();
    for (n, v) in param_names(policy).iter().zip(&p.params) {
        params.insert((*n).to_string(), Value::String(decimal(i128::from(*v), 9)));
    }
    let mut leaves = Vec::new();
    for (i, (index, r)) in p.leaves.iter().enumerate() {
        leaves.push(json!({"index": index, "record": record_json(r, i)?}));
    }
    let mut out = json!({
        "format": "ale-certificate",
        "version": ale_verify::layout::VERSION,
        "policy": policy.name(),
        "time_s": p.time_s,
        "params_hash": hex::encode(p.params_hash),
        "params": params,
        "market": commitment_json(&p.market),
        "state": commitment_json(&p.state),
        "market_leaves": leaves,
        "market_proof": p.market_proof.iter().map(hex::encode).collect::<Vec<_>>(),
        "account": {
            "index": p.account_index,
            "record": account_json(&p.account)?,
            "proof": p.account_proof.iter().map(hex::encode).collect::<Vec<_>>(),
        },
        "witness": {
            "underlying": name16(&p.underlying),
            "scenario": if p.scenario == NO_SCENARIO { Value::Null } else { json!(p.scenario) },
        },
        "claimed_value": fx(p.claimed_value),
        "claimed_requirement": fx(p.claimed_requirement),
        "binary_bytes": bytes.len(),
    });
    if let Some(e) = engine {
        out["engine"] = json!({
            "note": "the engine's own f64 figures, for a person to read; the verifier ignores them",
            "equity": e.equity, "maintenance_margin": e.maintenance, "initial_margin": e.initial,
            "status": e.status,
            "witness": e.witness.map(|(s, v)| json!({"spot_move": s, "vol": v})),
        });
    }
    Ok(out)
}

// ---- back to bytes ----

fn get<'a>(v: &'a Value, key: &str, path: &str) -> Result<&'a Value, String> {
    v.get(key).ok_or_else(|| format!("missing '{path}.{key}'"))
}
fn s<'a>(v: &'a Value, key: &str, path: &str) -> Result<&'a str, String> {
    get(v, key, path)?
        .as_str()
        .ok_or_else(|| format!("'{path}.{key}' must be a string"))
}
fn int(v: &Value, key: &str, path: &str) -> Result<i128, String> {
    let x = get(v, key, path)?;
    x.as_i64()
        .map(i128::from)
        .or_else(|| x.as_u64().map(i128::from))
        .ok_or_else(|| format!("'{path}.{key}' must be an integer"))
}
fn fixed(v: &Value, key: &str, path: &str) -> Result<i128, String> {
    parse_decimal(s(v, key, path)?, 18).map_err(|e| format!("'{path}.{key}': {e}"))
}
fn opt_fixed(v: &Value, key: &str, path: &str) -> Result<Option<i128>, String> {
    match get(v, key, path)? {
        Value::Null => Ok(None),
        _ => fixed(v, key, path).map(Some),
    }
}
fn hex_n<const N: usize>(text: &str, path: &str) -> Result<[u8; N], String> {
    let b = hex::decode(text).map_err(|e| format!("'{path}': {e}"))?;
    b.try_into()
        .map_err(|_| format!("'{path}' must be {N} bytes of hex"))
}
fn asset16(text: &str, path: &str) -> Result<[u8; 16], String> {
    let b = text.as_bytes();
    if b.len() > 16 {
        return Err(format!("'{path}' longer than 16 bytes"));
    }
    let mut out = [0u8; 16];
    out[..b.len()].copy_from_slice(b);
    Ok(out)
}
fn arr<'a>(v: &'a Value, key: &str, path: &str) -> Result<&'a Vec<Value>, String> {
    get(v, key, path)?
        .as_array()
        .ok_or_else(|| format!("'{path}.{key}' must be an array"))
}
fn narrow<T: TryFrom<i128>>(x: i128, path: &str) -> Result<T, String> {
    T::try_from(x).map_err(|_| format!("'{path}' out of range"))
}

fn commitment_from(v: &Value, path: &str) -> Result<CommitmentParts, String> {
    let mut sigs = Vec::new();
    for (i, sg) in arr(v, "signatures", path)?.iter().enumerate() {
        let p = format!("{path}.signatures[{i}]");
        sigs.push((
            narrow(int(sg, "key", &p)?, &p)?,
            hex_n::<64>(s(sg, "sig", &p)?, &p)?,
        ));
    }
    Ok(CommitmentParts {
        root: hex_n::<32>(s(v, "root", path)?, &format!("{path}.root"))?,
        time_s: narrow(int(v, "time_s", path)?, path)?,
        seq: narrow(int(v, "seq", path)?, path)?,
        leaf_count: narrow(int(v, "leaf_count", path)?, path)?,
        sigs,
    })
}

fn record_from(v: &Value, path: &str) -> Result<[u8; 128], String> {
    let k = s(v, "kind", path)?;
    let asset = || asset16(s(v, "asset", path)?, path);
    Ok(match k {
        "empty" => [0u8; 128],
        "underlying" => {
            let rv = opt_fixed(v, "realized_vol", path)?;
            let pp = opt_fixed(v, "perp_price", path)?;
            let flags = u8::from(rv.is_some()) * flag::REALIZED_VOL
                + u8::from(pp.is_some()) * flag::PERP_PRICE;
            record(
                tag::UNDERLYING,
                flags,
                0,
                asset()?,
                0,
                [
                    fixed(v, "spot", path)?,
                    fixed(v, "rate", path)?,
                    rv.unwrap_or(0),
                    pp.unwrap_or(0),
                    int(v, "slice_count", path)?,
                    0,
                ],
            )
        }
        "forward" => record(
            tag::FORWARD,
            0,
            0,
            asset()?,
            narrow(int(v, "expiry_s", path)?, path)?,
            [fixed(v, "forward", path)?, 0, 0, 0, 0, 0],
        ),
        "svi_slice" => record(
            tag::SLICE,
            0,
            narrow(int(v, "index", path)?, path)?,
            asset()?,
            0,
            [
                fixed(v, "expiry_years", path)?,
                fixed(v, "a", path)?,
                fixed(v, "b", path)?,
                fixed(v, "rho", path)?,
                fixed(v, "m", path)?,
                fixed(v, "sigma", path)?,
            ],
        ),
        "collateral" => {
            let mw = match get(v, "moves_with", path)? {
                Value::Null => None,
                x => Some(asset16(
                    x.as_str().ok_or(format!("'{path}.moves_with'"))?,
                    path,
                )?),
            };
            record(
                tag::COLLATERAL,
                if mw.is_some() { 4 } else { 0 },
                0,
                asset()?,
                0,
                [
                    fixed(v, "price", path)?,
                    fixed(v, "haircut", path)?,
                    fixed(v, "bridge_risk", path)?,
                    mw.map_or(0, i128::from_le_bytes),
                    0,
                    0,
                ],
            )
        }
        other => return Err(format!("'{path}.kind': unknown record kind '{other}'")),
    })
}

fn account_from(v: &Value, path: &str) -> Result<Vec<u8>, String> {
    let id = s(v, "id", path)?.as_bytes();
    let mut out = vec![u8::try_from(id.len()).map_err(|_| format!("'{path}.id' too long"))?];
    out.extend_from_slice(id);
    let coll = arr(v, "collateral", path)?;
    out.push(narrow(coll.len() as i128, path)?);
    for (i, c) in coll.iter().enumerate() {
        let p = format!("{path}.collateral[{i}]");
        out.extend_from_slice(&asset16(s(c, "asset", &p)?, &p)?);
        out.extend_from_slice(&fixed(c, "amount", &p)?.to_le_bytes());
    }
    let pos = arr(v, "positions", path)?;
    out.push(narrow(pos.len() as i128, path)?);
    for (i, x) in pos.iter().enumerate() {
        let p = format!("{path}.positions[{i}]");
        let kname = s(x, "kind", &p)?;
        let k = KINDS
            .iter()
            .position(|n| *n == kname)
            .ok_or_else(|| format!("'{p}.kind': unknown '{kname}'"))? as u8;
        let entry = opt_fixed(x, "entry_price", &p)?;
        out.push(k);
        out.push(if entry.is_some() {
            flag::ENTRY_PRICE
        } else {
            0
        });
        out.extend_from_slice(&[0u8; 6]);
        out.extend_from_slice(&asset16(s(x, "underlying", &p)?, &p)?);
        out.extend_from_slice(&narrow::<i64>(int(x, "expiry_s", &p)?, &p)?.to_le_bytes());
        let strike =
            parse_decimal(s(x, "strike", &p)?, 8).map_err(|e| format!("'{p}.strike': {e}"))?;
        out.extend_from_slice(&narrow::<i64>(strike, &p)?.to_le_bytes());
        out.extend_from_slice(&fixed(x, "size", &p)?.to_le_bytes());
        out.extend_from_slice(&entry.unwrap_or(0).to_le_bytes());
    }
    Ok(out)
}

/// The certificate bytes from its JSON rendering (the `engine` block is ignored).
pub fn from_json(v: &Value) -> Result<Vec<u8>, String> {
    if v.get("format").and_then(Value::as_str) != Some("ale-certificate") {
        return Err("'format' must be \"ale-certificate\"".into());
    }
    let version = int(v, "version", "")?;
    if version != i128::from(ale_verify::layout::VERSION) {
        return Err(format!("'version' {version} is not supported"));
    }
    let pname = s(v, "policy", "")?;
    let policy = [Policy::Ramm, Policy::Static, Policy::OracleAdjusted]
        .into_iter()
        .find(|p| p.name() == pname)
        .ok_or_else(|| format!("'policy': unknown '{pname}'"))?;
    let pv = get(v, "params", "")?;
    let mut params = Vec::new();
    for n in param_names(policy) {
        let t = s(pv, n, "params")?;
        params.push(narrow::<i64>(
            parse_decimal(t, 9).map_err(|e| format!("'params.{n}': {e}"))?,
            n,
        )?);
    }
    let mut leaves = Vec::new();
    for (i, l) in arr(v, "market_leaves", "")?.iter().enumerate() {
        let p = format!("market_leaves[{i}]");
        leaves.push((
            narrow(int(l, "index", &p)?, &p)?,
            record_from(get(l, "record", &p)?, &p)?,
        ));
    }
    let hashes = |a: &Vec<Value>, path: &str| -> Result<Vec<[u8; 32]>, String> {
        a.iter()
            .map(|h| {
                hex_n::<32>(
                    h.as_str()
                        .ok_or(format!("'{path}' must hold hex strings"))?,
                    path,
                )
            })
            .collect()
    };
    let acct = get(v, "account", "")?;
    let w = get(v, "witness", "")?;
    let parts = Parts {
        policy: policy.code(),
        time_s: narrow(int(v, "time_s", "")?, "time_s")?,
        params_hash: hex_n::<32>(s(v, "params_hash", "")?, "params_hash")?,
        params,
        market: commitment_from(get(v, "market", "")?, "market")?,
        state: commitment_from(get(v, "state", "")?, "state")?,
        leaves,
        market_proof: hashes(arr(v, "market_proof", "")?, "market_proof")?,
        account: account_from(get(acct, "record", "account")?, "account.record")?,
        account_index: narrow(int(acct, "index", "account")?, "account.index")?,
        account_proof: hashes(arr(acct, "proof", "account")?, "account.proof")?,
        underlying: asset16(s(w, "underlying", "witness")?, "witness.underlying")?,
        scenario: match get(w, "scenario", "witness")? {
            Value::Null => NO_SCENARIO,
            _ => narrow(int(w, "scenario", "witness")?, "witness.scenario")?,
        },
        claimed_value: fixed(v, "claimed_value", "")?,
        claimed_requirement: fixed(v, "claimed_requirement", "")?,
    };
    Ok(encode(&parts))
}
