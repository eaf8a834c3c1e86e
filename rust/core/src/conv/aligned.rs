//! 64-byte aligned scratch and packed-weight buffers, allocated fallibly so that an impossible
//! size becomes an error instead of an abort.
use crate::{CoreError, Result};

#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Block([u8; 64]);

/// A zero-initialised, 64-byte aligned buffer of at least `bytes` bytes.
pub struct AlignedBuf {
    blocks: Vec<Block>,
    bytes: usize,
}

impl AlignedBuf {
    pub fn new(bytes: usize) -> Result<Self> {
        let n = bytes.div_ceil(64).max(1);
        let mut blocks = Vec::new();
        blocks.try_reserve_exact(n).map_err(|_| {
            CoreError::InvalidArgument(format!("cannot allocate {bytes} bytes of workspace"))
        })?;
        blocks.resize(n, Block([0; 64]));
        Ok(Self { blocks, bytes })
    }

    /// Usable size in bytes (what was asked for).
    pub fn len(&self) -> usize {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    pub fn as_ptr(&self) -> *const u8 {
        self.blocks.as_ptr().cast()
    }

    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.blocks.as_mut_ptr().cast()
    }

    /// The buffer as floats (its size rounded down to whole floats).
    pub fn as_f32(&self) -> &[f32] {
        // SAFETY: 64-byte alignment satisfies f32's; the blocks hold at least `bytes` bytes,
        // all initialised, and any bit pattern is a valid f32.
        unsafe { std::slice::from_raw_parts(self.as_ptr().cast(), self.bytes / 4) }
    }
}
