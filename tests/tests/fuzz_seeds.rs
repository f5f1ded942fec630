//! The fuzz target's committed seeds are the kernel's golden frames, byte for byte, so the
//! fuzzer starts from real traffic and the two never drift apart.

use std::fs;
use std::path::Path;

use udpstack::wire::golden;

#[test]
fn fuzz_seeds_are_the_golden_frames() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/wire_parse");
    let mut seeds: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    seeds.sort();
    let mut expected: Vec<String> = golden::ALL
        .iter()
        .map(|(name, _)| format!("golden-{}", name.to_lowercase()))
        .collect();
    expected.sort();
    assert_eq!(
        seeds, expected,
        "regenerate fuzz/seeds/wire_parse from udpstack::wire::golden"
    );
    for (name, frame) in golden::ALL {
        let path = dir.join(format!("golden-{}", name.to_lowercase()));
        assert_eq!(fs::read(&path).unwrap(), *frame, "{}", path.display());
    }
}
