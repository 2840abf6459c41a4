//! Writes the synthetic venue's per-underlying scenario inputs to a directory, so that the numpy
//! peer (`benches/peers/numpy_venue.py`) prices and nets exactly the venue the engine margins.
//!
//! Usage: `cargo run --release -p ale-risk --example export_venue -- [DIR] [ACCOUNTS] [OPTIONS]`
//! (defaults: `target/venue-export`, 100 000 accounts, 1 000 options per underlying).
//!
//! Files (raw little-endian, one per array, named `{UNDERLYING}_{field}.{f64|i32}`), described by
//! `header.json`:
//! - per row (instrument): `kind` (0 call, 1 put, 2 delta-one), `strike`, `expiry_years`,
//!   `forward` and `base_vol` (the unshocked pricing inputs), `mark` (delta-one rows);
//! - per row × scenario (row-major): `fwd_shock` and `vol_shock`, the shocked forward and the
//!   shocked vol exactly as the engine's scenario table uses them;
//! - per scenario: `spot_move`;
//! - per position: `pos_account`, `pos_row`, `pos_size`; per account: `moving` (value of the
//!   collateral that moves with the underlying);
//! - `engine_pnl`: the engine's `scenario_pnl` (accounts × scenarios), for the peer to check.
//!
//! Rows the engine cannot price (expired, refused inputs) are exported as delta-one rows of mark
//! 0, so that they contribute nothing on either side.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ale_risk::book::RowKind;
use ale_risk::scenario::{shocked_vol, RammGrid};
use ale_risk::synthetic::{synthetic_venue, VenueSpec};
use ale_risk::Ramm;

fn write_f64(dir: &Path, name: &str, data: &[f64]) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(data.len() * 8);
    for x in data {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    fs::write(dir.join(format!("{name}.f64")), bytes)
}

fn write_i32(dir: &Path, name: &str, data: &[i32]) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(data.len() * 4);
    for x in data {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    fs::write(dir.join(format!("{name}.i32")), bytes)
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, default: T) -> Result<T, String> {
    match args.get(i) {
        None => Ok(default),
        Some(s) => s
            .parse()
            .map_err(|_| format!("invalid argument {i}: '{s}' is not a number")),
    }
}

fn main() -> ExitCode {
    match try_main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("export_venue: {e}");
            ExitCode::FAILURE
        }
    }
}

fn try_main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(
        args.first()
            .cloned()
            .unwrap_or_else(|| "target/venue-export".into()),
    );
    let spec = VenueSpec {
        accounts: arg(&args, 1, VenueSpec::default().accounts)?,
        options_per_underlying: arg(&args, 2, VenueSpec::default().options_per_underlying)?,
        ..VenueSpec::default()
    };
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let venue = synthetic_venue(&spec);
    let engine = venue.engine(Ramm::default()).map_err(|e| e.to_string())?;
    let policy = Ramm::default();
    let p = &policy.params;
    let market = engine.market();
    let book = engine.book();
    let now = market.time();
    let rate = market.rate();
    let io = |e: std::io::Error| format!("{}: {e}", dir.display());
    let mut header_underlyings = Vec::new();
    for (u, asset) in book.underlyings().iter().enumerate() {
        let um = market.underlying(asset).map_err(|e| e.to_string())?;
        let grid = RammGrid::new(p, um);
        let n = grid.scenarios.len();
        let rows = book.row_count(u);
        let (mut kind, mut strike, mut expiry_years, mut forward, mut base_vol, mut mark) = (
            Vec::with_capacity(rows),
            Vec::with_capacity(rows),
            Vec::with_capacity(rows),
            Vec::with_capacity(rows),
            Vec::with_capacity(rows),
            Vec::with_capacity(rows),
        );
        let mut fwd_shock = Vec::with_capacity(rows * n);
        let mut vol_shock = Vec::with_capacity(rows * n);
        let table = engine.table(u).ok_or("table not built")?;
        for (row, listed) in book.rows(u).enumerate() {
            let usable = table.issues[row].is_none();
            // (kind code, strike, expiry, forward, base vol, mark)
            let fields = match listed.kind {
                _ if !usable => (2, 0.0, 0.0, 0.0, 0.0, 0.0),
                RowKind::Spot => (2, 0.0, 0.0, um.spot(), 0.0, um.spot()),
                RowKind::Perpetual => (2, 0.0, 0.0, um.perp_mark(), 0.0, um.perp_mark()),
                RowKind::Future { expiry } => {
                    let t = expiry.years_from(now);
                    let f = um.forward(expiry, t, rate);
                    (2, 0.0, t, f, 0.0, f)
                }
                RowKind::Option {
                    expiry,
                    strike: k,
                    kind: ok,
                } => {
                    let t = expiry.years_from(now);
                    let f = um.forward(expiry, t, rate);
                    let code = match ok {
                        ale_core::OptionKind::Call => 0,
                        ale_core::OptionKind::Put => 1,
                    };
                    (code, k, t, f, um.vol(k, f, t), 0.0)
                }
            };
            kind.push(fields.0);
            strike.push(fields.1);
            expiry_years.push(fields.2);
            forward.push(fields.3);
            base_vol.push(fields.4);
            mark.push(fields.5);
            for s in &grid.scenarios {
                // The table's own arithmetic: F·(1 + s), vol read at the new moneyness, shocked.
                let f_s = fields.3 * (1.0 + s.spot_move);
                fwd_shock.push(f_s);
                vol_shock.push(if fields.0 == 2 {
                    0.0
                } else {
                    shocked_vol(p, um.vol(fields.1, f_s, fields.2), s.vol, fields.2)
                });
            }
        }
        let (mut pos_account, mut pos_row, mut pos_size) = (Vec::new(), Vec::new(), Vec::new());
        let mut moving = vec![0.0; book.accounts().len()];
        for (ix, account) in book.accounts().iter().enumerate() {
            if let Some(span) = account.spans.iter().find(|s| s.underlying == u) {
                for pos in &account.positions[span.start as usize..span.end as usize] {
                    pos_account.push(ix as i32);
                    pos_row.push(pos.row as i32);
                    pos_size.push(pos.size);
                }
            }
            for (a, amount) in &account.collateral {
                let price = market.collateral(a).map_err(|e| e.to_string())?;
                if market.collateral_underlying(a) == Some(asset) {
                    moving[ix] += amount.to_f64() * price.price * price.value_factor();
                }
            }
        }
        let mut engine_pnl = vec![0.0; book.accounts().len() * n];
        engine
            .scenario_pnl(u, &mut engine_pnl)
            .map_err(|e| e.to_string())?;
        let name = asset.to_string();
        let spot_move: Vec<f64> = grid.scenarios.iter().map(|s| s.spot_move).collect();
        write_i32(&dir, &format!("{name}_kind"), &kind).map_err(io)?;
        write_f64(&dir, &format!("{name}_strike"), &strike).map_err(io)?;
        write_f64(&dir, &format!("{name}_expiry_years"), &expiry_years).map_err(io)?;
        write_f64(&dir, &format!("{name}_forward"), &forward).map_err(io)?;
        write_f64(&dir, &format!("{name}_base_vol"), &base_vol).map_err(io)?;
        write_f64(&dir, &format!("{name}_mark"), &mark).map_err(io)?;
        write_f64(&dir, &format!("{name}_fwd_shock"), &fwd_shock).map_err(io)?;
        write_f64(&dir, &format!("{name}_vol_shock"), &vol_shock).map_err(io)?;
        write_f64(&dir, &format!("{name}_spot_move"), &spot_move).map_err(io)?;
        write_i32(&dir, &format!("{name}_pos_account"), &pos_account).map_err(io)?;
        write_i32(&dir, &format!("{name}_pos_row"), &pos_row).map_err(io)?;
        write_f64(&dir, &format!("{name}_pos_size"), &pos_size).map_err(io)?;
        write_f64(&dir, &format!("{name}_moving"), &moving).map_err(io)?;
        write_f64(&dir, &format!("{name}_engine_pnl"), &engine_pnl).map_err(io)?;
        header_underlyings.push(format!(
            "{{\"name\": \"{name}\", \"rows\": {rows}, \"scenarios\": {n}, \"positions\": {}}}",
            pos_row.len()
        ));
    }
    let header = format!(
        "{{\n  \"format\": \"ale-venue-export/1\",\n  \"accounts\": {},\n  \"options_per_underlying\": {},\n  \"seed\": {},\n  \"rate\": {},\n  \"underlyings\": [\n    {}\n  ]\n}}\n",
        book.accounts().len(),
        spec.options_per_underlying,
        spec.seed,
        rate,
        header_underlyings.join(",\n    ")
    );
    fs::File::create(dir.join("header.json"))
        .and_then(|mut f| f.write_all(header.as_bytes()))
        .map_err(io)?;
    println!("{}", dir.display());
    Ok(())
}
