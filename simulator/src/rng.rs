//! Named random streams. Every device, attack and the world draw from their own ChaCha stream,
//! derived from the scenario seed and a name, so the output never depends on iteration order
//! or thread scheduling, and adding a device does not change what the others do.

use rand::SeedableRng;
use rand_chacha::ChaCha12Rng;

pub type Stream = ChaCha12Rng;

/// The stream for `(seed, kind, index)`.
pub fn stream(seed: u64, kind: &str, index: u64) -> Stream {
    // FNV-1a over the name, mixed with seed and index through SplitMix64: cheap, stable across
    // platforms and Rust versions (unlike std's Hasher).
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in kind.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut key = [0u8; 32];
    let mut state = seed ^ h.rotate_left(17) ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for chunk in key.chunks_mut(8) {
        chunk.copy_from_slice(&splitmix64(&mut state).to_le_bytes());
    }
    ChaCha12Rng::from_seed(key)
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
