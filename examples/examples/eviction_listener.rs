//! An eviction listener: count why entries leave a small cache, and write the evicted ones
//! somewhere cheaper (here, a vector standing in for a second store).
//!
//! `cargo run -p strata-examples --example eviction_listener`

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use strata::cache::{Eviction, ManualClock, RemovalCause};
use strata::{MemoryCache, StorageBackend, TtlConfig};

#[tokio::main]
async fn main() -> strata::Result<()> {
    let causes: Arc<Mutex<BTreeMap<String, u32>>> = Arc::default();
    let spilled: Arc<Mutex<Vec<Eviction>>> = Arc::default();
    let clock = ManualClock::new();
    let cache = MemoryCache::builder()
        .max_entries(100)
        .ttl(TtlConfig::default().default_ttl(Duration::from_secs(60)))
        .clock(clock.clone())
        .eviction_listener({
            let (causes, spilled) = (causes.clone(), spilled.clone());
            // Runs after the cache's locks are released: it may take its time, or use the cache.
            move |e: Eviction| {
                *causes
                    .lock()
                    .unwrap()
                    .entry(format!("{:?}", e.cause))
                    .or_default() += 1;
                if e.cause == RemovalCause::Size {
                    spilled.lock().unwrap().push(e);
                }
            }
        })
        .build()?;

    for i in 0..300u32 {
        cache
            .put(format!("k{i}").into(), format!("v{i}").into())
            .await?;
    }
    cache.put("k299".into(), "updated".into()).await?; // Replaced
    cache.delete(b"k299").await?; // Removed
    clock.advance(Duration::from_secs(61));
    cache.run_cleanup(); // Expired

    println!("why entries left: {:?}", causes.lock().unwrap());
    println!(
        "spilled to the cheaper store: {}",
        spilled.lock().unwrap().len()
    );
    Ok(())
}
