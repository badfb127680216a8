//! The pool boots a worker only when a job would otherwise wait. A test binary of its own: the
//! pool is process-wide.

#[test]
fn sequential_spawn_join_reuses_the_same_workers() {
    // The first spawn boots the first worker; from then on each joined thread's worker is idle
    // before its joiner can spawn again.
    wbspawn::spawn(|| ()).join().unwrap();
    let at_start = wbspawn::pool_stats().live;
    for i in 0..1000u32 {
        assert_eq!(wbspawn::spawn(move || i).join().unwrap(), i);
        let live = wbspawn::pool_stats().live;
        assert!(
            live <= at_start,
            "spawn {i}: {live} workers, {at_start} at the start"
        );
    }
}
