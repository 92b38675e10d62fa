//! Helpers shared by the benchmarks: deterministic model generators.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Writes `count` files of `size` bytes each under `dir` (created), with content that no
/// compressing file system could shortcut.
pub fn write_model(dir: &Path, count: usize, size: u64) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut block = vec![0u8; 1 << 16];
    for i in 0..count {
        let mut out = BufWriter::new(File::create(dir.join(format!("part-{i:05}.bin")))?);
        let mut left = size;
        while left > 0 {
            for b in block.chunks_exact_mut(8) {
                // xorshift64*
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                b.copy_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
            }
            let n = left.min(block.len() as u64) as usize;
            out.write_all(&block[..n])?;
            left -= n as u64;
        }
        out.flush()?;
    }
    Ok(())
}
