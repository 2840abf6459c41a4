//! `ale certify` and `ale verify`: liquidation certificates (docs/verify.md).

use std::path::PathBuf;

use ale_certify::{certify, json, CertPolicy, Certificate, CertifyError, CoSigners, Commitments};
use ale_core::{Account, Timestamp};
use ale_format::{parse_market, parse_portfolio};
use ale_market::MarketSnapshot;
use ale_oracle::dev_keys;
use ale_verify::{Quorum, TrustedKeys, VerifyingKey};
use anyhow::Context;
use clap::Args;
use serde_json::json;

use crate::Outcome;

/// Label of the built-in development keys (deterministic, for demonstrations and tests only).
const DEV_LABEL: &str = "ale-dev";

/// Build the liquidation certificate of an account.
///
/// Reads the market file and portfolio files (every account in them forms the venue's
/// account-state tree), margins the account under the policy, and for a liquidatable one prints
/// the certificate as JSON: the committed market leaves and account record with their Merkle
/// proofs, both roots under one message signed by 2 of the 3 oracle development keys (the
/// venue's own signature of its state root checked before), one witness scenario per
/// underlying, and the claims, checked by the verifier before they are printed. Exit 1 with
/// the reason when the account is healthy, too close to call, or not provable at one scenario
/// per underlying.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ale certify --market market.json --policy ramm portfolio.json > cert.json\n\nThe roots are signed with deterministic development keys (label 'ale-dev'): for demonstration only.\nExit status: 0 certificate printed, 1 nothing to certify (reason on stderr), 2 bad input."
)]
pub struct CertifyArgs {
    /// The market file (formats.md).
    #[arg(long)]
    pub market: PathBuf,
    /// The policy: ramm, static, oracle-adjusted, pm.
    #[arg(long, default_value = "ramm")]
    pub policy: String,
    /// A TOML parameter file.
    #[arg(long)]
    pub params: Option<PathBuf>,
    /// The account to certify (default: the only account of the files).
    #[arg(long)]
    pub account: Option<String>,
    /// Sequence number of the commitments.
    #[arg(long, default_value_t = 1)]
    pub seq: u64,
    /// Also write the canonical binary form to this file.
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// Portfolio files.
    #[arg(required = true)]
    pub portfolios: Vec<PathBuf>,
}

/// Check a liquidation certificate.
///
/// Verifies the signatures of the message of both roots (2 of 3 oracle keys by default; venue
/// keys too with --venue-quorum), freshness, Merkle proofs, and equity and the bound at the
/// witnesses in integer arithmetic. Prints {"valid":true,...,"witnesses":[...],"stage":n,...,
/// "cost":{...}} (a witness's "gamma": its gamma witness, when it names one; "stage": the
/// `ramm` stage that proved the decision) and exits 0, or {"valid":false,"reason":...} and
/// exits 1.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  ale verify --now 2026-11-24T08:00:05Z cert.json\n\nExit status: 0 valid, 1 rejected, 2 the file could not be read."
)]
pub struct VerifyArgs {
    /// The certificate: its JSON rendering or the binary form.
    pub certificate: PathBuf,
    /// The time of the check (RFC 3339; default: the system clock).
    #[arg(long)]
    pub now: Option<String>,
    /// Oldest commitment accepted, in seconds.
    #[arg(long, default_value_t = 60)]
    pub max_age_s: i64,
    /// Oracle signatures needed on the message of both roots (of the 3 development keys).
    #[arg(long, default_value_t = 2)]
    pub oracle_quorum: u8,
    /// Venue signatures needed on the same message (0: the oracle side checked the venue's
    /// signature of its state root before co-signing; docs/verify.md).
    #[arg(long, default_value_t = 0)]
    pub venue_quorum: u8,
    /// Trusted keys: a JSON file {"oracle": ["<hex ed25519 public key>", ...], "venue": [...]}
    /// (default: the built-in development keys).
    #[arg(long)]
    pub keys: Option<PathBuf>,
}

fn key_list(v: &serde_json::Value, which: &str) -> anyhow::Result<Vec<VerifyingKey>> {
    let list = v
        .get(which)
        .and_then(|x| x.as_array())
        .with_context(|| format!("keys file: '{which}' must be an array of hex public keys"))?;
    list.iter()
        .enumerate()
        .map(|(i, k)| {
            let bytes: [u8; 32] = k
                .as_str()
                .and_then(|s| hex::decode(s).ok())
                .and_then(|b| b.try_into().ok())
                .with_context(|| format!("keys file: '{which}[{i}]' must be 32 bytes of hex"))?;
            VerifyingKey::from_bytes(&bytes).map_err(|e| {
                anyhow::anyhow!("keys file: '{which}[{i}]' is not a valid ed25519 key: {e}")
            })
        })
        .collect()
}

fn read(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

struct DevKeys {
    oracle: Vec<ed25519_dalek::SigningKey>,
    venue: Vec<ed25519_dalek::SigningKey>,
    oracle_vk: Vec<VerifyingKey>,
    venue_vk: Vec<VerifyingKey>,
}

fn dev() -> DevKeys {
    let oracle = dev_keys(&format!("{DEV_LABEL}-oracle"), 3);
    let venue = dev_keys(&format!("{DEV_LABEL}-venue"), 3);
    DevKeys {
        oracle_vk: oracle.iter().map(|k| k.verifying_key()).collect(),
        venue_vk: venue.iter().map(|k| k.verifying_key()).collect(),
        oracle,
        venue,
    }
}

/// The quorum `ale certify` checks its certificates with and `ale liquidate` gates on: 2 of the
/// 3 oracle development keys on the message of both roots (the venue's signature of its state
/// root is checked by the oracle side before it co-signs: docs/verify.md), commitments at most
/// 60 s old.
pub(crate) const DEV_QUORUM: Quorum = Quorum {
    oracle: 2,
    venue: 0,
    max_age_s: 60,
};

/// The development keys' public halves (oracle, venue): what `ale verify` trusts by default.
pub(crate) fn dev_verifying_keys() -> (Vec<VerifyingKey>, Vec<VerifyingKey>) {
    let keys = dev();
    (keys.oracle_vk, keys.venue_vk)
}

/// Commits `market` and `accounts` (the venue's account state), signs the state root with 2 of
/// the 3 venue development keys and the message of both roots with 2 of the 3 oracle ones, and
/// builds the certificate of `target`, checked by the verifier at the market's time: what
/// `ale certify` prints and `ale liquidate` gates on.
pub(crate) fn dev_certificate(
    policy: &CertPolicy,
    market: &MarketSnapshot,
    accounts: &[Account],
    target: &Account,
    seq: u64,
) -> Result<Certificate, CertifyError> {
    let keys = dev();
    let commitments = Commitments::build_with(
        market,
        accounts,
        policy,
        seq,
        &[(0, &keys.oracle[0]), (1, &keys.oracle[1])],
        &[(0, &keys.venue[0]), (1, &keys.venue[1])],
        CoSigners::Oracle,
    )?;
    let trusted = TrustedKeys {
        oracle: &keys.oracle_vk,
        venue: &keys.venue_vk,
    };
    certify(
        policy,
        market,
        &commitments,
        target,
        &trusted,
        &DEV_QUORUM,
        market.time().unix_seconds(),
    )
}

pub fn run_certify(args: CertifyArgs) -> anyhow::Result<Outcome> {
    let params = args.params.as_ref().map(read).transpose()?;
    let policy = CertPolicy::from_name(&args.policy, params.as_deref())?;
    let market = parse_market(&read(&args.market)?)
        .with_context(|| format!("market file {}", args.market.display()))?
        .snapshot;
    let mut accounts: Vec<Account> = Vec::new();
    for path in &args.portfolios {
        let (list, _) =
            parse_portfolio(&read(path)?).with_context(|| format!("{}", path.display()))?;
        accounts.extend(list);
    }
    let target = match &args.account {
        Some(id) => accounts
            .iter()
            .find(|a| a.id.as_str() == id)
            .with_context(|| format!("no account '{id}' in the portfolio files"))?,
        None if accounts.len() == 1 => &accounts[0],
        None => anyhow::bail!(
            "the files hold {} accounts: name one with --account",
            accounts.len()
        ),
    };
    match dev_certificate(&policy, &market, &accounts, target, args.seq) {
        Ok(cert) => {
            if let Some(path) = &args.binary {
                std::fs::write(path, &cert.bytes)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            let j = json::to_json(&cert.bytes, Some(&cert.engine)).map_err(anyhow::Error::msg)?;
            println!("{}", serde_json::to_string_pretty(&j)?);
            eprintln!("ale: signed with the built-in development keys ('{DEV_LABEL}'): for demonstration only");
            Ok(Outcome::Ok)
        }
        Err(e @ (CertifyError::NotLiquidatable { .. } | CertifyError::Refused { .. })) => {
            eprintln!("ale: {e}");
            Ok(Outcome::SomeFailed)
        }
        Err(e) => Err(e.into()),
    }
}

pub fn run_verify(args: VerifyArgs) -> anyhow::Result<Outcome> {
    let raw = std::fs::read(&args.certificate)
        .with_context(|| format!("cannot read {}", args.certificate.display()))?;
    let now = match &args.now {
        Some(t) => Timestamp::parse_rfc3339(t)?.unix_seconds(),
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
    };
    let bytes = if raw.starts_with(&ale_verify::layout::MAGIC) {
        raw
    } else {
        let text =
            String::from_utf8(raw).context("the certificate is neither binary nor UTF-8 JSON")?;
        let value: serde_json::Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                println!(
                    "{}",
                    json!({"valid": false, "reason": format!("not JSON: {e}")})
                );
                return Ok(Outcome::SomeFailed);
            }
        };
        match json::from_json(&value) {
            Ok(b) => b,
            Err(reason) => {
                println!("{}", json!({"valid": false, "reason": reason}));
                return Ok(Outcome::SomeFailed);
            }
        }
    };
    let (oracle_vk, venue_vk) = match &args.keys {
        Some(path) => {
            let v: serde_json::Value = serde_json::from_str(&read(path)?)
                .with_context(|| format!("keys file {}", path.display()))?;
            (key_list(&v, "oracle")?, key_list(&v, "venue")?)
        }
        None => {
            let keys = dev();
            (keys.oracle_vk, keys.venue_vk)
        }
    };
    let trusted = TrustedKeys {
        oracle: &oracle_vk,
        venue: &venue_vk,
    };
    let quorum = Quorum {
        oracle: args.oracle_quorum,
        venue: args.venue_quorum,
        max_age_s: args.max_age_s,
    };
    match ale_verify::verify(&bytes, &trusted, &quorum, now) {
        Ok(v) => {
            let d = |x: i128| json::decimal(x, 18);
            println!(
                "{}",
                json!({
                    "valid": true,
                    "account": v.account_id(),
                    "policy": v.policy.name(),
                    "value": d(v.value),
                    "requirement": d(v.requirement),
                    "shortfall": d(v.shortfall),
                    "error_bound": d(v.error),
                    "scenario": if v.scenario == ale_verify::layout::NO_SCENARIO { serde_json::Value::Null } else { json!(v.scenario) },
                    "witnesses": v.witnesses().iter().map(|w| {
                        let mut o = json!({
                            "underlying": String::from_utf8_lossy(&w.underlying).trim_end_matches('\0'),
                            "scenario": if w.scenario == ale_verify::layout::BASIS { json!("basis") } else { json!(w.scenario) },
                        });
                        // `ramm`, format v3: the grid scenario whose gamma charge counts (no key
                        // when the witness names none).
                        if w.gamma != ale_verify::layout::NO_SCENARIO {
                            o["gamma"] = json!(w.gamma);
                        }
                        o
                    }).collect::<Vec<_>>(),
                    "stage": v.stage,
                    "bytes": bytes.len(),
                    "cost": {
                        "int_ops": v.cost.int_ops,
                        "hashes": v.cost.hashes,
                        "hash_words": v.cost.hash_words,
                        "sig_checks": v.cost.sig_checks,
                        "proof_steps": v.cost.proof_steps,
                        "total": v.cost.total(),
                    },
                })
            );
            Ok(Outcome::Ok)
        }
        Err(r) => {
            println!(
                "{}",
                json!({"valid": false, "field": r.field, "reason": r.to_string()})
            );
            Ok(Outcome::SomeFailed)
        }
    }
}
