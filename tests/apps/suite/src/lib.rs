//! A small threaded library and its unit tests, some of which fail on purpose.

use rayon::prelude::*;

/// The sum of `values`, added up on rayon's pool.
pub fn parallel_sum(values: &[u64]) -> u64 {
    values.par_iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_in_parallel() {
        let values: Vec<u64> = (1..=10_000).collect();
        assert_eq!(parallel_sum(&values), 50_005_000);
    }

    #[test]
    fn fails_with_output() {
        println!("printed before the failure");
        assert_eq!(parallel_sum(&[2, 2]), 5, "two and two");
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn panics_as_expected() {
        let values = [1, 2, 3];
        let at = values.len() + 2;
        if at >= values.len() {
            panic!("index {at} out of range");
        }
    }

    #[test]
    #[should_panic(expected = "another message")]
    fn panics_with_the_wrong_message() {
        panic!("this message");
    }

    #[test]
    fn returns_err() -> Result<(), String> {
        Err("the result was an error".to_string())
    }

    #[test]
    #[ignore = "needs a network"]
    fn ignored_with_a_reason() {}

    #[test]
    fn traps() {
        // A crash of the test's thread (a trap), not a panic: the test fails alone.
        #[cfg(target_arch = "wasm32")]
        core::arch::wasm32::unreachable();
        #[cfg(not(target_arch = "wasm32"))]
        std::process::abort();
    }
}
