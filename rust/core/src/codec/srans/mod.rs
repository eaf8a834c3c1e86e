//! `srans`: static-context rANS with up to 32 interleaved states: the codec built to decode at
//! memory speed.
//!
//! The model is fitted to the tensor and sent with it, so decoding is table lookups only:
//!
//! - **Rows** are output channels (`shape[0]`). With row side information on, every row sends
//!   a kind (all-zero, or one of K classes) and its smallest non-zero magnitude m. Per-layer
//!   magnitude pruning plus per-channel scales make m channel-specific, so codes are sent as
//!   *relative* values r = q - sign(q)(m - 1). Rows are grouped into K classes by Lloyd
//!   iterations on their histograms (each row goes to the class whose table codes it cheapest):
//!   a class stands for how hard a channel was pruned and how its weights spread. Short rows
//!   (depthwise kernels) may instead take their table by position in the row, positions
//!   grouped the same way (the centre tap of a kernel is larger than its corners).
//! - **Tables** (one per class, over signed r) are sent as log-scale counts, s steps per octave,
//!   delta and Elias-gamma coded, or as a few knots of a piecewise log-linear curve where that
//!   codes smaller (small tensors of 8-bit codes); the decoder rebuilds the same integer
//!   frequencies. The encoder picks K, rows or positions, and p by the exact table cost plus
//!   the modelled data cost at s = 4, then s for the model it picked.
//! - **Coding**: the side symbols go through one rANS state; the codes through 1, 8 or 32
//!   states that take turns on one word stream, so independent dependency chains overlap in
//!   the CPU (with AVX2, as vectors of eight). A code costs one lookup in a 2^p-entry table
//!   that holds its frequency, its slot offset and the output byte. With 8 or 32 states the
//!   last symbols (the tail) go through a state of their own whose words are the main states'
//!   first values, which would otherwise carry nothing.
//! - **Pairs**: in large tensors of 4-bit codes, two neighbouring codes of a row may be coded
//!   as one symbol whose frequency is the product of theirs (derived, not sent): one lookup
//!   yields two codes, so decoding takes half the lookups; the encoder takes pairs where they
//!   cost at most a small, fixed share more bits.
//!
//! The files, each read top to bottom: `format` (the stream: first byte, header, tables as
//! sent, word layout), `table` (the frequency tables both sides rebuild), `symbols` (codes as
//! relative symbols), `coder` (one rANS step each way), `buffers` (memory kept between calls),
//! `model` and `knots` (the encoder's model search and its curve-shaped tables), `encode`,
//! `decode`, and `simd` (the AVX2 loops of both).
mod buffers;
mod coder;
mod decode;
mod encode;
mod format;
mod knots;
mod model;
#[cfg(target_arch = "x86_64")]
mod simd;
mod symbols;
mod table;

pub use decode::{decode, decode_with};
pub use encode::{encode, encode_counting, encode_with};
pub use format::{header, Header};

use crate::error::CoreError;

fn corrupt(what: &str) -> CoreError {
    CoreError::Corrupt(format!("srans: {what}"))
}
