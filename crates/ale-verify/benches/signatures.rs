//! What the signature checks of a certificate cost on this machine (issue 10's 50 µs target):
//! one `verify_strict`, the 2k = 4 checks of two separate 2-of-n quorums, the k = 2 checks of
//! one joint message, and ed25519-dalek's batch verification of 2 and 4 signatures.
//!
//! `cargo bench -p ale-verify --bench signatures`

use criterion::{criterion_group, criterion_main, Criterion};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::hint::black_box;
use std::time::Duration;

fn keys(n: u8) -> Vec<SigningKey> {
    (0..n)
        .map(|i| SigningKey::from_bytes(&[i + 1; 32]))
        .collect()
}

fn bench(c: &mut Criterion) {
    let sk = keys(4);
    let vk: Vec<VerifyingKey> = sk.iter().map(|k| k.verifying_key()).collect();
    let msg = [7u8; 164];
    let sigs: Vec<Signature> = sk.iter().map(|k| k.sign(&msg)).collect();
    let msgs: Vec<&[u8]> = vec![&msg[..]; 4];
    let mut g = c.benchmark_group("ed25519");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(30);
    g.bench_function("verify_strict_x1", |b| {
        b.iter(|| vk[0].verify_strict(black_box(&msg), &sigs[0]).unwrap())
    });
    g.bench_function("verify_strict_x2", |b| {
        b.iter(|| {
            for i in 0..2 {
                vk[i].verify_strict(black_box(&msg), &sigs[i]).unwrap()
            }
        })
    });
    g.bench_function("verify_strict_x4", |b| {
        b.iter(|| {
            for i in 0..4 {
                vk[i].verify_strict(black_box(&msg), &sigs[i]).unwrap()
            }
        })
    });
    g.bench_function("verify_batch_x2", |b| {
        b.iter(|| ed25519_dalek::verify_batch(black_box(&msgs[..2]), &sigs[..2], &vk[..2]).unwrap())
    });
    g.bench_function("verify_batch_x4", |b| {
        b.iter(|| ed25519_dalek::verify_batch(black_box(&msgs[..4]), &sigs[..4], &vk[..4]).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
