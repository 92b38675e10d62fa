//! The signed in-toto statement: parsing into the expected manifest (root digest check, shard
//! names, legacy predicate). Whatever parses must write back to a statement that parses to the
//! same resources.
#![no_main]

use libfuzzer_sys::fuzz_target;
use model_verifier::statement;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = statement::parse(data) {
        let (symlinks, ignore) = s
            .serialization
            .as_ref()
            .map(|x| (x.allow_symlinks, x.ignore_paths.clone()))
            .unwrap_or_default();
        let written = statement::write(&s.manifest, &s.hashing(), symlinks, &ignore);
        let back = statement::parse(&written).expect("a written statement parses");
        assert_eq!(back.manifest.resources, s.manifest.resources);
    }
});
