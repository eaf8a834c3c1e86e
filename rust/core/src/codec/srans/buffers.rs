//! Buffers kept per thread between calls: a model is many small and mid-sized tensors, and
//! allocating and clearing the buffers of each would add a pass over their memory per call.
use std::cell::Cell;

thread_local! {
    /// The encoder's words, the decoder's lookup tables, and the decoder's symbols of a tensor
    /// before they expand into its codes. Taken out while in use (a nested call would get
    /// fresh ones) and put back by [`keep`].
    pub(super) static WORDS: Cell<Vec<u16>> = const { Cell::new(Vec::new()) };
    pub(super) static LUTS: Cell<Vec<u32>> = const { Cell::new(Vec::new()) };
    pub(super) static SYMS: Cell<Vec<i8>> = const { Cell::new(Vec::new()) };
}

/// A word buffer for `symbols` symbols and `states` final states, kept between encodes:
/// only the words written are read (`format::finish`), so it is never cleared.
pub(super) fn word_buffer(symbols: usize, states: usize) -> Vec<u16> {
    let mut words = WORDS.take();
    let need = symbols + 2 * states + 1;
    grow(&mut words, need);
    words
}

/// Puts a buffer back for the next call, unless it holds more than [`KEEP_BYTES`]: reuse pays
/// on the many small and mid-sized tensors of a model, and a thread should not hold on to the
/// memory of the largest tensor it ever coded.
pub(super) fn keep<T>(slot: &'static std::thread::LocalKey<Cell<Vec<T>>>, buffer: Vec<T>) {
    if buffer.capacity() * std::mem::size_of::<T>() <= KEEP_BYTES {
        slot.set(buffer);
    }
}

/// The largest buffer kept for the next call.
const KEEP_BYTES: usize = 1 << 20;

/// Grows a kept buffer to at least `len` elements, exactly (so that [`keep`] sees the memory
/// in use), without clearing what it holds.
pub(super) fn grow<T: Clone + Default>(buffer: &mut Vec<T>, len: usize) {
    if buffer.len() < len {
        buffer.reserve_exact(len - buffer.len());
        buffer.resize(len, T::default());
    }
}
