//! Bodies of the decoder fuzz targets, shared with the corpus replay test.

use std::sync::OnceLock;

use bytes::Bytes;
use strata::{ErrorKind, MemoryBackend, Operation};
use strata_codecs::envelope::flags::{COMPRESSED, DICTIONARY};
use strata_codecs::{Compressed, CompressionConfig, Dictionary, Envelope};

/// Envelope decoding: never panics; a decoded envelope re-encodes to the same bytes.
pub fn envelope_decode(data: &[u8]) {
    let input = Bytes::copy_from_slice(data);
    match Envelope::decode(&input) {
        Ok(envelope) => assert_eq!(envelope.encode(), input, "decode/encode must round-trip"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::Corrupted),
    }
}

fn layer() -> &'static Compressed<MemoryBackend> {
    static LAYER: OnceLock<Compressed<MemoryBackend>> = OnceLock::new();
    LAYER.get_or_init(|| {
        let samples: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("{{\"id\":{i},\"task\":\"t{}\",\"ok\":true}}", i % 7).into_bytes())
            .collect();
        let dict = Dictionary::train(1, &samples, 4096).expect("dictionary");
        let inner = MemoryBackend::with_limits(64, 64 * 1024);
        Compressed::with_config(inner, CompressionConfig::default().with_dictionary(dict))
    })
}

/// Compressed-frame decoding of arbitrary stored bytes: never panics, never returns more than
/// the value limit; encoding any input and decoding it gives the input back.
pub fn compressed_decode(data: &[u8]) {
    let layer = layer();
    match layer.decode(Operation::Get, &Bytes::copy_from_slice(data)) {
        Ok(value) => assert!(value.len() <= 64 * 1024, "decoded past the value limit"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::Corrupted),
    }
    // Arbitrary bytes as a zstd frame inside a valid envelope, with and without the
    // dictionary: this reaches the decompressor, which a random checksum rarely lets through.
    for flags in [COMPRESSED, COMPRESSED | DICTIONARY] {
        let envelope = Envelope {
            flags,
            dictionary: u32::from(flags & DICTIONARY != 0),
            version: 0,
            payload: Bytes::copy_from_slice(data),
        };
        match layer.decode(Operation::Get, &envelope.encode()) {
            Ok(value) => assert!(value.len() <= 64 * 1024, "decoded past the value limit"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::Corrupted),
        }
    }
    if data.len() <= 64 * 1024 - strata_codecs::envelope::HEADER_LEN {
        let value = Bytes::copy_from_slice(data);
        let stored = layer.encode(Operation::Put, &value).expect("encode");
        assert_eq!(
            layer
                .decode(Operation::Get, &stored)
                .expect("decode own output"),
            value
        );
    }
}

/// A record shape for the archived-access target: strings, vectors, floats, options.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, PartialEq)]
pub struct FuzzRecord {
    /// An id.
    pub id: u64,
    /// Some text.
    pub text: String,
    /// Some numbers.
    pub values: Vec<f32>,
    /// Nested strings.
    pub tags: Vec<String>,
    /// An optional timestamp.
    pub when: Option<i64>,
}

/// Checked access to an archived record on arbitrary bytes: never panics, and whatever
/// validates can be read in full and deserialized.
pub fn archived_access(data: &[u8]) {
    if let Ok(typed) = strata_codecs::Typed::<FuzzRecord>::new(Bytes::copy_from_slice(data)) {
        let total: usize = typed.text.len()
            + typed.values.len()
            + typed.tags.iter().map(|t| t.len()).sum::<usize>();
        std::hint::black_box(total);
        let owned: FuzzRecord = rkyv::deserialize::<FuzzRecord, rkyv::rancor::Error>(&*typed)
            .expect("validated bytes deserialize");
        assert_eq!(owned.id, typed.id.to_native());
    }
}
