//! Named, seeded randomness: ChaCha8 streams derived from the run's seed, one per purpose and
//! per path / account, so that no result depends on the order in which work is done or on the
//! number of threads; and counter-based draws for decisions taken during a run (the same draw
//! for the same account, step and purpose under every policy: common random numbers).

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Stream of market path `i`.
pub const STREAM_PATH: u64 = 1 << 40;
/// Stream of trader `i`'s traits.
pub const STREAM_TRADER: u64 = 2 << 40;
/// Stream of trader `i`'s decisions during a run.
pub const STREAM_DECISION: u64 = 3 << 40;

/// The generator of `stream` under `seed`.
pub fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// A uniform draw in [0, 1) for (`seed`, `stream`, `counter`): random access into the stream,
/// the same under every policy and thread count.
pub fn uniform_at(seed: u64, stream_id: u64, counter: u64) -> f64 {
    let mut rng = stream(seed, stream_id);
    // Each counter owns one 64-bit word (two 32-bit words of the stream).
    rng.set_word_pos(u128::from(counter) * 2);
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A standard normal draw (Box–Muller, one of the pair).
pub fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}
