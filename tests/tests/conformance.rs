//! The conformance suite against every backend; tests read `<backend>::<case>`.

use strata::SyncMode;
use strata_tests::harness::{DoubleDyn, RedbHarness, SharedMemoryHarness};

mod memory {
    use super::*;
    strata::conformance_suite!(SharedMemoryHarness::default());
}

mod memory_dyn {
    use super::*;
    strata::conformance_suite!(DoubleDyn(SharedMemoryHarness::default()));
}

mod redb_full {
    use super::*;
    strata::conformance_suite!(RedbHarness::new(SyncMode::Full), persistent);
}

mod redb_normal {
    use super::*;
    strata::conformance_suite!(RedbHarness::new(SyncMode::normal(8)), persistent);
}

mod redb_checkpoint {
    use super::*;
    strata::conformance_suite!(RedbHarness::new(SyncMode::Checkpoint), persistent);
}

mod redb_off {
    use super::*;
    strata::conformance_suite!(RedbHarness::new(SyncMode::Off), persistent);
}

mod redb_dyn {
    use super::*;
    strata::conformance_suite!(DoubleDyn(RedbHarness::new(SyncMode::Full)), persistent);
}
