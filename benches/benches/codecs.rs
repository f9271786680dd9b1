#![allow(missing_docs)] // criterion_group! generates undocumented items
//! Codecs on a realistic record (an agent "episode" with a 384-float embedding): typed
//! zero-copy access from a cached buffer against rkyv deserialize, serde_json and postcard
//! decoding; then zstd ratio and speed on JSON-like records, with and without a dictionary.
//!
//! `cargo bench -p strata-bench --bench codecs`

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use rkyv::{Archive, Deserialize, Serialize};
use strata::{MemoryBackend, Operation};
use strata_codecs::{Compressed, CompressionConfig, Dictionary, Typed};
use strata_tests::records::json_record;

#[derive(
    Archive, Serialize, Deserialize, serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq,
)]
struct Episode {
    id: u64,
    started_ms: i64,
    finished_ms: i64,
    task: String,
    steps: Vec<String>,
    tags: Vec<String>,
    embedding: Vec<f32>,
}

fn episode(id: u64) -> Episode {
    Episode {
        id,
        started_ms: 1_700_000_000_000 + id as i64,
        finished_ms: 1_700_000_060_000 + id as i64,
        task: format!("summarise the quarterly report for customer {id} and draft a reply"),
        steps: (0..6)
            .map(|s| format!("step {s}: called tool search with query #{id}-{s}, 12 results"))
            .collect(),
        tags: vec!["agent".into(), "finance".into(), format!("day-{}", id % 7)],
        embedding: (0..384)
            .map(|i| ((i as f32 + id as f32) * 0.618).sin())
            .collect(),
    }
}

fn bench_decode(c: &mut Criterion) {
    let record = episode(42);
    let archived = Bytes::from(
        rkyv::to_bytes::<rkyv::rancor::Error>(&record)
            .unwrap()
            .into_vec(),
    );
    let json = serde_json::to_vec(&record).unwrap();
    let postcard = postcard::to_allocvec(&record).unwrap();
    let validated = Typed::<Episode>::new(archived.clone()).unwrap();
    let mut group = c.benchmark_group("decode_episode");
    group.bench_function("typed_access_validated_buffer", |b| {
        b.iter(|| {
            let e = &*validated;
            black_box((
                e.id.to_native(),
                e.task.len(),
                e.embedding[383].to_native(),
                e.steps.len(),
            ))
        })
    });
    group.bench_function("typed_access_with_validation", |b| {
        b.iter(|| {
            let t = Typed::<Episode>::new(archived.clone()).unwrap();
            black_box((
                t.id.to_native(),
                t.task.len(),
                t.embedding[383].to_native(),
                t.steps.len(),
            ))
        })
    });
    group.bench_function("rkyv_deserialize", |b| {
        b.iter(|| black_box(rkyv::from_bytes::<Episode, rkyv::rancor::Error>(&archived).unwrap()))
    });
    group.bench_function("serde_json", |b| {
        b.iter(|| black_box(serde_json::from_slice::<Episode>(&json).unwrap()))
    });
    group.bench_function("postcard", |b| {
        b.iter(|| black_box(postcard::from_bytes::<Episode>(&postcard).unwrap()))
    });
    group.finish();
    eprintln!(
        "episode sizes: rkyv {} B, json {} B, postcard {} B",
        archived.len(),
        json.len(),
        postcard.len()
    );
}

fn bench_zstd(c: &mut Criterion) {
    let samples: Vec<Bytes> = (0..2000).map(|i| json_record(i, 512)).collect();
    let dict = Dictionary::train(1, &samples, 16 * 1024).unwrap();
    let mut group = c.benchmark_group("zstd");
    eprintln!(
        "\n| record size | saved, no dictionary | saved, dictionary | compress | decompress |"
    );
    for size in [512usize, 2048, 16 * 1024] {
        let records: Vec<Bytes> = (10_000..10_200).map(|i| json_record(i, size)).collect();
        let plain = Compressed::with_config(
            MemoryBackend::new(),
            CompressionConfig::default().threshold(256),
        );
        let with_dict = Compressed::with_config(
            MemoryBackend::new(),
            CompressionConfig::default().with_dictionary(dict.clone()),
        );
        let raw: usize = records.iter().map(Bytes::len).sum();
        let (mut p_out, mut d_out) = (0, 0);
        for r in &records {
            p_out += plain.encode(Operation::Put, r).unwrap().len()
                - strata_codecs::envelope::HEADER_LEN;
            d_out += with_dict.encode(Operation::Put, r).unwrap().len()
                - strata_codecs::envelope::HEADER_LEN;
        }
        eprintln!(
            "| {size} B | {:.1} % | {:.1} % | | |",
            100.0 * (1.0 - p_out as f64 / raw as f64),
            100.0 * (1.0 - d_out as f64 / raw as f64)
        );
        let sample = records[0].clone();
        let stored = plain.encode(Operation::Put, &sample).unwrap();
        group.bench_function(format!("compress_{size}"), |b| {
            b.iter(|| black_box(plain.encode(Operation::Put, &sample).unwrap()))
        });
        group.bench_function(format!("decompress_{size}"), |b| {
            b.iter(|| black_box(plain.decode(Operation::Get, &stored).unwrap()))
        });
        let stored_d = with_dict.encode(Operation::Put, &sample).unwrap();
        group.bench_function(format!("decompress_dict_{size}"), |b| {
            b.iter(|| black_box(with_dict.decode(Operation::Get, &stored_d).unwrap()))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(2));
    targets = bench_decode, bench_zstd
}
criterion_main!(benches);
