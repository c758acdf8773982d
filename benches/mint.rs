//! Native token-minting throughput, one criterion group per vendor.
//!
//! `cargo bench --bench mint` prints criterion's per-token time, then a
//! `=> median … ns/token = … tokens/s` line computed from the same samples, and for the main
//! bench of each vendor whether the one-core target is met:
//! LiveKit ≥ 1,000,000/s, ZEGO ≥ 1,000,000/s, Agora ≥ 200,000/s.
//!
//! The `reference/*` entries are not targets: they show what the hand-tuned paths are
//! measured against: jwt-compact minting the same LiveKit claims, and miniz_oxide's zlib
//! step alone (reused compressor reset per token; fresh compressor per token, as an earlier
//! prototype did) on the same Agora token body, compared with a whole `rtc_token`.
//!
//! Note: criterion's `time:` line shows [lower bound, estimate, upper bound] where the
//! estimate is its slope (or mean) estimate; the `=>` line is the true median of the
//! per-token sample times.

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use miniz_oxide::deflate::compress_to_vec_zlib;
use miniz_oxide::deflate::core::{compress, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush};
use rtcgate::vendors::agora::token::{inflate_token, AgoraTokenBuilder, RtcPrivileges};
use rtcgate::vendors::livekit::token::{JoinClaims, LiveKitSigner, ServerGrant};
use rtcgate::vendors::zego::token::{iv_from_random, strict_room_payload, ZegoTokenMinter};

const NOW: u64 = 1_700_000_000;

/// Benches `mint` (one token per call) and prints the median per-token time and tokens/s
/// computed from criterion's own measurement samples (the last `SAMPLES` timings).
fn bench_tokens<T>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    vendor: &str,
    name: &str,
    target_per_s: Option<f64>,
    mut mint: impl FnMut(u64) -> T,
) {
    let samples: Rc<RefCell<Vec<(u64, Duration)>>> = Rc::default();
    let record = Rc::clone(&samples);
    let mut counter = 0u64;
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                counter = counter.wrapping_add(1);
                black_box(mint(black_box(counter)));
            }
            let elapsed = start.elapsed();
            record.borrow_mut().push((iters, elapsed));
            elapsed
        })
    });
    let samples = samples.borrow();
    if samples.len() < SAMPLES {
        return; // filtered out, or `--test` / `--profile-time` mode
    }
    let mut per_token: Vec<f64> =
        samples[samples.len() - SAMPLES..].iter().map(|&(iters, d)| d.as_nanos() as f64 / iters as f64).collect();
    per_token.sort_by(f64::total_cmp);
    let mid = per_token.len() / 2;
    let median_ns =
        if per_token.len().is_multiple_of(2) { (per_token[mid - 1] + per_token[mid]) / 2.0 } else { per_token[mid] };
    let per_s = 1e9 / median_ns;
    let verdict = match target_per_s {
        Some(t) if per_s >= t => format!("  target {t:.0}/s: MET"),
        Some(t) => format!("  target {t:.0}/s: NOT MET"),
        None => String::new(),
    };
    println!("=> {vendor}/{name}: median {median_ns:.1} ns/token = {per_s:.0} tokens/s{verdict}");
}

const SAMPLES: usize = 100;

fn livekit(c: &mut Criterion) {
    let signer = LiveKitSigner::new("APIdevkey", "secret-secret-secret-secret-secret-0123");
    let mut g = c.benchmark_group("livekit");
    g.sample_size(SAMPLES);
    bench_tokens(&mut g, "livekit", "join_token", Some(1_000_000.0), |i| {
        let claims = JoinClaims {
            identity: "alice",
            name: Some("Alice"),
            metadata: Some(r#"{"team":"blue"}"#),
            room: "rm_7Hq2",
            ttl_s: 21_600,
            can_publish: true,
            can_subscribe: true,
            can_publish_data: true,
            room_admin: false,
            can_publish_sources: None,
        };
        signer.join_token(&claims, NOW + (i & 0xff))
    });
    bench_tokens(&mut g, "livekit", "server_token", None, |i| {
        let grant = ServerGrant { room_admin: true, room: Some("rm_7Hq2"), ..Default::default() };
        signer.server_token(&grant, NOW + (i & 0xff), 600)
    });
    bench_tokens(&mut g, "livekit", "reference/jwt_compact", None, {
        use jwt_compact::alg::{Hs256, Hs256Key};
        use jwt_compact::{AlgorithmExt as _, Claims, Header};
        #[derive(serde::Serialize)]
        struct Video<'a> {
            #[serde(rename = "roomJoin")]
            room_join: bool,
            room: &'a str,
            #[serde(rename = "canPublish")]
            can_publish: bool,
            #[serde(rename = "canSubscribe")]
            can_subscribe: bool,
            #[serde(rename = "canPublishData")]
            can_publish_data: bool,
        }
        #[derive(serde::Serialize)]
        struct Custom<'a> {
            iss: &'a str,
            sub: &'a str,
            nbf: u64,
            exp: u64,
            name: &'a str,
            metadata: &'a str,
            video: Video<'a>,
        }
        let key = Hs256Key::new(b"secret-secret-secret-secret-secret-0123");
        let header = Header::empty().with_token_type("JWT");
        move |i| {
            let now = NOW + (i & 0xff);
            let claims = Claims::new(Custom {
                iss: "APIdevkey",
                sub: "alice",
                nbf: now,
                exp: now + 21_600,
                name: "Alice",
                metadata: r#"{"team":"blue"}"#,
                video: Video {
                    room_join: true,
                    room: "rm_7Hq2",
                    can_publish: true,
                    can_subscribe: true,
                    can_publish_data: true,
                },
            });
            Hs256.token(&header, &claims, &key).expect("jwt-compact signs")
        }
    });
    g.finish();
}

const AGORA_APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
const AGORA_CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";

fn agora(c: &mut Criterion) {
    let builder = AgoraTokenBuilder::new(AGORA_APP_ID, AGORA_CERT).expect("valid config");
    let publisher = RtcPrivileges { publish_audio: true, publish_video: true, publish_data: true };
    let mut g = c.benchmark_group("agora");
    g.sample_size(SAMPLES);
    // a fresh salt per token (as in production); issue_ts changes every 4096 tokens
    bench_tokens(&mut g, "agora", "rtc_token", Some(200_000.0), |i| {
        let salt = (i % 99_999_999) as u32 + 1;
        builder.rtc_token("rm_7Hq2", 12345, publisher, (NOW + (i >> 12)) as u32, salt, 3600)
    });
    // what the zlib step alone costs with miniz_oxide, on the same ~130-byte token body
    let body = inflate_token(&builder.rtc_token("rm_7Hq2", 12345, publisher, NOW as u32, 42, 3600))
        .expect("our token inflates");
    let mut compressor = CompressorOxide::new(create_comp_flags_from_zip_params(6, 1, 0));
    let mut out = vec![0u8; body.len() * 2 + 64];
    bench_tokens(&mut g, "agora", "reference/miniz_deflate_only_reused_reset", None, |_| {
        compressor.reset();
        compress(&mut compressor, &body, &mut out, TDEFLFlush::Finish).2
    });
    bench_tokens(&mut g, "agora", "reference/miniz_deflate_only_fresh", None, |_| compress_to_vec_zlib(&body, 6));
    g.finish();
}

fn zego(c: &mut Criterion) {
    let minter = ZegoTokenMinter::new(1_234_567_890, "fa94dd0f974cf2e293728a526b028271").expect("config");
    let payload = strict_room_payload("rm_7Hq2", true);
    let mut g = c.benchmark_group("zego");
    g.sample_size(SAMPLES);
    bench_tokens(&mut g, "zego", "token04", Some(1_000_000.0), |i| {
        let iv = iv_from_random((i as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
        minter.token04("alice", &payload, NOW as i64, 7200, i as i32, &iv)
    });
    bench_tokens(&mut g, "zego", "token04_with_strict_payload", None, |i| {
        let iv = iv_from_random((i as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
        let payload = strict_room_payload("rm_7Hq2", i & 1 == 0);
        minter.token04("alice", &payload, NOW as i64, 7200, i as i32, &iv)
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = livekit, agora, zego
}
criterion_main!(benches);
