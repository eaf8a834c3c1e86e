//! Per-step timing of an [`Executor`]: the network run `runs` times with a clock read around
//! each step, so a step's time is taken where the network runs it (its input the previous
//! step's output, the arena and workspace shared). Kept apart from [`Executor::run`], which
//! reads no clock.
use std::time::Instant;

use super::{run_step, slice, Executor};
use crate::{CoreError, Result};

/// What [`Executor::profile_steps`] reads around each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// Elapsed time.
    Wall,
    /// The calling thread's CPU time: a step's own time whatever share of the CPU other
    /// processes leave it, for plans that run on one thread (with more, only the caller's
    /// share of each step).
    Thread,
}

impl Clock {
    fn now(self, start: Instant) -> f64 {
        match self {
            Clock::Wall => start.elapsed().as_secs_f64(),
            Clock::Thread => {
                let mut ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: a valid clock id and a valid timespec to write.
                unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
                ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
            }
        }
    }
}

fn median(mut s: Vec<f64>) -> f64 {
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

impl Executor {
    /// Labels of the timed steps, in order: each step that writes (views write nothing) by
    /// its output tensor, then `"<outputs>"`, the copy of the graph outputs out of the arena.
    pub fn step_names(&self) -> Vec<String> {
        let mut names = self.names.clone();
        names.push("<outputs>".into());
        names
    }

    /// Runs the network `runs` times on `inputs` (as [`Executor::run`]) and returns, per entry
    /// of [`Executor::step_names`], the median seconds over the runs by `clock`, less the
    /// cost of reading the clock twice.
    pub fn profile_steps(
        &mut self,
        inputs: &[&[f32]],
        runs: usize,
        clock: Clock,
    ) -> Result<Vec<f64>> {
        if runs == 0 {
            return Err(CoreError::InvalidArgument("runs must be at least 1".into()));
        }
        let mut outputs: Vec<Vec<f32>> = self
            .output_lens()
            .into_iter()
            .map(|n| vec![0.0; n])
            .collect();
        {
            // Checks the inputs' count and sizes, and warms every buffer once.
            let mut ys: Vec<&mut [f32]> = outputs.iter_mut().map(|y| y.as_mut_slice()).collect();
            self.run(inputs, &mut ys)?;
        }
        let start = Instant::now();
        let read = median(
            (0..33)
                .map(|_| {
                    let t0 = clock.now(start);
                    clock.now(start) - t0
                })
                .collect(),
        );
        let n = self.steps.len();
        let mut samples = vec![Vec::with_capacity(runs); n + 1];
        let arena = self.arena.as_mut_ptr().cast::<f32>();
        for _ in 0..runs {
            for (step, times) in self.steps.iter().zip(&mut samples) {
                let t0 = clock.now(start);
                run_step(step, arena, inputs, &mut self.workspace)?;
                times.push(clock.now(start) - t0);
            }
            let t0 = clock.now(start);
            for (y, l) in outputs.iter_mut().zip(&self.outputs) {
                // SAFETY: as in Executor::run.
                let src = unsafe { slice(arena, inputs, l, 0, l.batch) };
                y.copy_from_slice(src);
            }
            samples[n].push(clock.now(start) - t0);
        }
        Ok(samples
            .into_iter()
            .map(|s| (median(s) - read).max(0.0))
            .collect())
    }
}
