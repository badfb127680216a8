// rayon kernels measured in the browser (wbspawn and wasm-bindgen-rayon) and natively, shared
// by the three bench apps through `#[path]` so all run the same code. Each returns a checksum
// that is the same whatever the thread count, so a wrong result cannot pass as a fast one.

use rayon::prelude::*;

/// The sizes: an 800×600 Mandelbrot set of up to 256 iterations per pixel, and a sort
/// of 2 million numbers.
pub const WIDTH: u32 = 800;
pub const HEIGHT: u32 = 600;
pub const ITERATIONS: u32 = 256;
pub const SORT_LEN: usize = 2_000_000;

fn pixel(x: u32, y: u32) -> u32 {
    let cr = -2.2 + 3.2 * f64::from(x) / f64::from(WIDTH);
    let ci = -1.2 + 2.4 * f64::from(y) / f64::from(HEIGHT);
    let (mut zr, mut zi, mut n) = (0.0f64, 0.0f64, 0);
    while n < ITERATIONS && zr * zr + zi * zi <= 4.0 {
        let t = zr * zr - zi * zi + cr;
        zi = 2.0 * zr * zi + ci;
        zr = t;
        n += 1;
    }
    n
}

/// The Mandelbrot set, one `par_iter` item per row; the sum of all iteration counts.
pub fn mandelbrot() -> u64 {
    (0..HEIGHT)
        .into_par_iter()
        .map(|y| (0..WIDTH).map(|x| u64::from(pixel(x, y))).sum::<u64>())
        .sum()
}

/// `SORT_LEN` pseudo-random numbers (xorshift, the same every time).
pub fn sort_input() -> Vec<u32> {
    let mut state = 0x2545_F491u32;
    (0..SORT_LEN)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        })
        .collect()
}

/// Sorts with `par_sort_unstable`; a checksum of the result (0 if it is not sorted).
pub fn sort(numbers: &mut [u32]) -> u64 {
    numbers.par_sort_unstable();
    if !numbers.windows(2).all(|w| w[0] <= w[1]) {
        return 0;
    }
    let picks = [0, numbers.len() / 3, numbers.len() / 2, numbers.len() - 1];
    picks.iter().map(|&i| u64::from(numbers[i])).sum()
}

/// The smallest useful rayon job: what "the first parallel result" waits for.
pub fn first_result() -> u64 {
    (0..10_000u64).into_par_iter().map(|x| x * x).sum()
}
