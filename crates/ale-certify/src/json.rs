//! The JSON rendering of a certificate: every field of the binary layout, decoded for people
//! (fixed-point values as exact decimal strings, hashes and signatures as hex), and back.
//!
//! Lossless for every certificate this crate writes: `from_json(to_json(b)) == b`. The optional
//! `engine` block (the engine's f64 figures) is informational and not part of the bytes.

use ale_oracle::commit::{record, tag};
use ale_verify::layout::{
    decode_account, decode_record, flag, Policy, Record, ScenarioLeaf, Witness, BASIS,
    STRIKE_SCALE, VENUE_KEY,
};
use ale_verify::pm::vol_code;
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
        Policy::Pm => &[
            "vol_range_up",
            "vol_range_down",
            "short_term_power",
            "long_term_power",
            "dte_floor_days",
            "min_vol_up_shock",
            "mm_factor",
            "short_rate_mult_scale",
            "long_rate_mult_scale",
            "short_rate_add_scale",
            "long_rate_add_scale",
            "short_base_static_discount",
            "long_base_static_discount",
            "scenario_spot_up",
            "scenario_spot_down",
            "basis_add_factor",
            "basis_mult_factor",
            "mm_perp_percent",
            "mm_option_percent",
            "linear_base_cap",
            "abs_base_cap",
            "linear_c_base",
            "abs_c_base",
            "min_k_star",
            "width_scale",
            "vol_param_static",
            "vol_param_scale",
        ],
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
    })
}

fn signature_json((k, s): &(u8, [u8; 64])) -> Value {
    let (signer, key) = if k & VENUE_KEY != 0 {
        ("venue", k & !VENUE_KEY)
    } else {
        ("oracle", *k)
    };
    json!({"signer": signer, "key": key, "sig": hex::encode(s)})
}

fn witness_json(w: &Witness) -> Value {
    let mut out = json!({
        "underlying": name16(&w.underlying),
        "scenario": if w.scenario == BASIS { json!("basis") } else { json!(w.scenario) },
    });
    // Format v3 (`ramm`): the gamma witness, when one is named.
    if w.gamma != ale_verify::layout::NO_SCENARIO {
        out["gamma"] = json!(w.gamma);
    }
    out
}

fn scenario_json(l: &ScenarioLeaf) -> Value {
    json!({
        "index": l.index,
        "spot_shock": fx(l.spot_shock),
        "dampening": fx(l.dampening),
        "vol": vol_code::NAMES.get(l.vol as usize).copied().unwrap_or("invalid"),
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
            collateral_listed,
        } => json!({
            "kind": "underlying", "asset": name16(&asset), "spot": fx(spot), "rate": fx(rate),
            "realized_vol": realized_vol.map(fx), "perp_price": perp_price.map(fx),
            "slice_count": slice_count, "collateral_listed": collateral_listed,
        }),
        Record::Forward {
            asset,
            expiry_s,
            forward,
            rate,
        } => {
            json!({"kind": "forward", "asset": name16(&asset), "expiry_s": expiry_s,
                   "forward": fx(forward), "rate": rate.map(fx)})
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
            mm_haircut,
        } => json!({
            "kind": "collateral", "asset": name16(&asset), "price": fx(price),
            "haircut": fx(haircut), "bridge_risk": fx(bridge_risk),
            "moves_with": moves_with.map(|m| name16(&m)), "mm_haircut": mm_haircut.map(fx),
        }),
        Record::Stable { asset, price } => {
            json!({"kind": "stable", "asset": name16(&asset), "price": fx(price)})
        }
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
        "version": crate::encode::version_of(&p),
        "policy": policy.name(),
        "time_s": p.time_s,
        "params_hash": hex::encode(p.params_hash),
        "params": params,
        "market": commitment_json(&p.market),
        "state": commitment_json(&p.state),
        "signatures": p.sigs.iter().map(signature_json).collect::<Vec<_>>(),
        "market_leaves": leaves,
        "market_proof": p.market_proof.iter().map(hex::encode).collect::<Vec<_>>(),
        "account": {
            "index": p.account_index,
            "record": account_json(&p.account)?,
            "proof": p.account_proof.iter().map(hex::encode).collect::<Vec<_>>(),
        },
        "witnesses": p.witnesses.iter().map(witness_json).collect::<Vec<_>>(),
        "claimed_value": fx(p.claimed_value),
        "claimed_requirement": fx(p.claimed_requirement),
        "binary_bytes": bytes.len(),
    });
    if let Some((count, root)) = p.scenarios {
        out["scenarios"] = json!({"count": count, "root": hex::encode(root)});
        out["witness_scenarios"] = p.witness_scenarios.iter().map(scenario_json).collect();
        out["witness_scenarios_proof"] = p.scenario_proof.iter().map(hex::encode).collect();
    }
    if let Some(e) = engine {
        out["engine"] = json!({
            "note": "the engine's own f64 figures, for a person to read; the verifier ignores them",
            "equity": e.equity, "maintenance_margin": e.maintenance, "initial_margin": e.initial,
            "status": e.status,
            "witnesses": e.witnesses.iter().map(|w| json!({
                "underlying": w.underlying, "index": w.index, "spot_move": w.spot_move,
                "vol": w.vol, "dampening": w.dampening,
            })).collect::<Vec<_>>(),
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
    Ok(CommitmentParts {
        root: hex_n::<32>(s(v, "root", path)?, &format!("{path}.root"))?,
        time_s: narrow(int(v, "time_s", path)?, path)?,
        seq: narrow(int(v, "seq", path)?, path)?,
        leaf_count: narrow(int(v, "leaf_count", path)?, path)?,
    })
}

fn signatures_from(v: &Value) -> Result<Vec<(u8, [u8; 64])>, String> {
    let mut sigs = Vec::new();
    for (i, sg) in arr(v, "signatures", "")?.iter().enumerate() {
        let p = format!("signatures[{i}]");
        let key: u8 = narrow(int(sg, "key", &p)?, &p)?;
        if key & VENUE_KEY != 0 {
            return Err(format!("'{p}.key' must be below 128"));
        }
        let key = match s(sg, "signer", &p)? {
            "oracle" => key,
            "venue" => key | VENUE_KEY,
            other => return Err(format!("'{p}.signer': 'oracle' or 'venue', got '{other}'")),
        };
        sigs.push((key, hex_n::<64>(s(sg, "sig", &p)?, &p)?));
    }
    Ok(sigs)
}

fn witness_from(v: &Value, path: &str) -> Result<Witness, String> {
    let scenario = match get(v, "scenario", path)? {
        Value::String(t) if t == "basis" => BASIS,
        _ => narrow(int(v, "scenario", path)?, &format!("{path}.scenario"))?,
    };
    let gamma = match v.get("gamma") {
        None | Some(Value::Null) => ale_verify::layout::NO_SCENARIO,
        Some(_) => narrow(int(v, "gamma", path)?, &format!("{path}.gamma"))?,
    };
    Ok(Witness {
        underlying: asset16(s(v, "underlying", path)?, &format!("{path}.underlying"))?,
        scenario,
        gamma,
    })
}

fn scenario_from(v: &Value, path: &str) -> Result<ScenarioLeaf, String> {
    let name = s(v, "vol", path)?;
    let vol = vol_code::NAMES
        .iter()
        .position(|n| *n == name)
        .ok_or_else(|| format!("'{path}.vol': unknown '{name}'"))? as u8;
    Ok(ScenarioLeaf {
        index: narrow(int(v, "index", path)?, &format!("{path}.index"))?,
        spot_shock: fixed(v, "spot_shock", path)?,
        dampening: fixed(v, "dampening", path)?,
        vol,
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
            let listed = get(v, "collateral_listed", path)?
                .as_bool()
                .ok_or_else(|| format!("'{path}.collateral_listed' must be true or false"))?;
            let flags = u8::from(rv.is_some()) * flag::REALIZED_VOL
                + u8::from(pp.is_some()) * flag::PERP_PRICE
                + u8::from(listed) * flag::COLLATERAL_LISTED;
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
        "forward" => {
            let rate = opt_fixed(v, "rate", path)?;
            record(
                tag::FORWARD,
                if rate.is_some() {
                    flag::FORWARD_RATE
                } else {
                    0
                },
                0,
                asset()?,
                narrow(int(v, "expiry_s", path)?, path)?,
                [fixed(v, "forward", path)?, rate.unwrap_or(0), 0, 0, 0, 0],
            )
        }
        "stable" => record(
            tag::STABLE,
            0,
            0,
            asset()?,
            0,
            [fixed(v, "price", path)?, 0, 0, 0, 0, 0],
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
            let mm = opt_fixed(v, "mm_haircut", path)?;
            let flags = if mw.is_some() { flag::MOVES_WITH } else { 0 }
                | if mm.is_some() { flag::MM_HAIRCUT } else { 0 };
            record(
                tag::COLLATERAL,
                flags,
                0,
                asset()?,
                0,
                [
                    fixed(v, "price", path)?,
                    fixed(v, "haircut", path)?,
                    fixed(v, "bridge_risk", path)?,
                    mw.map_or(0, i128::from_le_bytes),
                    mm.unwrap_or(0),
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
    if version != i128::from(ale_verify::layout::VERSION)
        && version != i128::from(ale_verify::layout::VERSION_V2)
    {
        return Err(format!("'version' {version} is not supported"));
    }
    let pname = s(v, "policy", "")?;
    let policy = [
        Policy::Ramm,
        Policy::Static,
        Policy::OracleAdjusted,
        Policy::Pm,
    ]
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
    let mut witnesses = Vec::new();
    for (i, w) in arr(v, "witnesses", "")?.iter().enumerate() {
        witnesses.push(witness_from(w, &format!("witnesses[{i}]"))?);
    }
    let (scenarios, witness_scenarios, scenario_proof) = if policy == Policy::Pm {
        let sc = get(v, "scenarios", "")?;
        let count = narrow(int(sc, "count", "scenarios")?, "scenarios.count")?;
        let root = hex_n::<32>(s(sc, "root", "scenarios")?, "scenarios.root")?;
        let mut leaves = Vec::new();
        for (i, l) in arr(v, "witness_scenarios", "")?.iter().enumerate() {
            leaves.push(scenario_from(l, &format!("witness_scenarios[{i}]"))?);
        }
        let proof = hashes(
            arr(v, "witness_scenarios_proof", "")?,
            "witness_scenarios_proof",
        )?;
        (Some((count, root)), leaves, proof)
    } else {
        (None, Vec::new(), Vec::new())
    };
    let parts = Parts {
        policy: policy.code(),
        time_s: narrow(int(v, "time_s", "")?, "time_s")?,
        params_hash: hex_n::<32>(s(v, "params_hash", "")?, "params_hash")?,
        params,
        scenarios,
        market: commitment_from(get(v, "market", "")?, "market")?,
        state: commitment_from(get(v, "state", "")?, "state")?,
        sigs: signatures_from(v)?,
        leaves,
        market_proof: hashes(arr(v, "market_proof", "")?, "market_proof")?,
        account: account_from(get(acct, "record", "account")?, "account.record")?,
        account_index: narrow(int(acct, "index", "account")?, "account.index")?,
        account_proof: hashes(arr(acct, "proof", "account")?, "account.proof")?,
        witnesses,
        witness_scenarios,
        scenario_proof,
        claimed_value: fixed(v, "claimed_value", "")?,
        claimed_requirement: fixed(v, "claimed_requirement", "")?,
    };
    // The version follows from the content (canonical form): 3 exactly when a `ramm`
    // witness names a gamma scenario.
    let canonical = crate::encode::version_of(&parts);
    if version != i128::from(canonical) {
        return Err(format!(
            "'version' {version}: this certificate's canonical version is {canonical} (3 exactly when a ramm witness names a gamma scenario)"
        ));
    }
    Ok(encode(&parts))
}
