//! Storm tests, shrunk. A storm (the demo, smaller: dozens of orders while
//! every monkey is loose) finds trouble well, but its run is hundreds of
//! steps long. When a storm fails, [`shrink`] runs it again with the same
//! seed and fewer orders, and the test reports the smallest storm that
//! still fails: the shortest counterexample it can find, a few dozen steps.
//! The same seed always shrinks to the same storm, so the failure's replay
//! command replays the short run.

/// A storm that failed, shrunk: the fewest orders found that still fail,
/// and that run.
#[derive(Debug)]
pub struct Shrunk<T> {
    /// Orders in the smallest failing storm found.
    pub orders: usize,
    /// Orders in the storm the test asked for (it failed too).
    pub asked: usize,
    /// The smallest failing storm's run.
    pub run: T,
}

impl<T> Shrunk<T> {
    /// One line for the failure's report.
    ///
    /// ```
    /// let shrunk = shop::testing::storm::Shrunk { orders: 3, asked: 30, run: () };
    /// assert_eq!(
    ///     shrunk.describe(),
    ///     "shrunk: the storm of 30 orders fails, and so does this one of 3 orders, \
    ///      the smallest found (same seed; with 2 orders it passes)"
    /// );
    /// ```
    pub fn describe(&self) -> String {
        if self.orders == self.asked {
            return format!(
                "shrunk: no smaller storm fails (same seed; with {} orders it passes)",
                self.orders - 1
            );
        }
        let below = match self.orders - 1 {
            0 => "it is the smallest there is".to_string(),
            1 => "with 1 order it passes".to_string(),
            n => format!("with {n} orders it passes"),
        };
        let one = |n: usize| if n == 1 { "order" } else { "orders" };
        format!(
            "shrunk: the storm of {} {} fails, and so does this one of {} {}, the smallest \
             found (same seed; {below})",
            self.asked,
            one(self.asked),
            self.orders,
            one(self.orders)
        )
    }
}

/// Runs `storm` with `orders` orders (`storm(n)` is `Some(run)` when the
/// storm of `n` orders broke something, `None` when it passed). If it
/// failed, finds the smallest failing storm: tries 1, 2, 3, 4, 6, 8, 11,
/// 15, … orders (each size about a third more than the one before), then
/// every size between the last that passed and the first that failed, so
/// the storm returned fails and the one just below it passes. A passing
/// storm costs one run; a failing one costs at most about five more
/// storms' worth of orders, and much less when a small storm fails.
///
/// ```
/// use shop::testing::storm::shrink;
///
/// // A storm that breaks from 7 orders on.
/// let storm = |n: usize| (n >= 7).then_some(n * 10);
/// let shrunk = shrink(30, storm).expect("30 orders fail");
/// assert_eq!((shrunk.orders, shrunk.run), (7, 70));
/// assert!(shrink(5, storm).is_none());
/// ```
pub fn shrink<T>(orders: usize, storm: impl Fn(usize) -> Option<T>) -> Option<Shrunk<T>> {
    let asked = storm(orders)?;
    let mut passed = 0;
    for size in ladder(orders) {
        if let Some(run) = storm(size) {
            return Some(smallest_from(passed + 1, size, run, orders, &storm));
        }
        passed = size;
    }
    Some(smallest_from(passed + 1, orders, asked, orders, &storm))
}

/// The first size from `from` up that fails, knowing that `failing` (whose
/// run is `run`) does.
fn smallest_from<T>(
    from: usize,
    failing: usize,
    run: T,
    asked: usize,
    storm: &impl Fn(usize) -> Option<T>,
) -> Shrunk<T> {
    for size in from..failing {
        if let Some(run) = storm(size) {
            return Shrunk {
                orders: size,
                asked,
                run,
            };
        }
    }
    Shrunk {
        orders: failing,
        asked,
        run,
    }
}

/// 1, 2, 3, 4, 5, 6, 8, 10, 13, 17, …: each about a third more than the one
/// before, all below `orders`.
fn ladder(orders: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut size = 1;
    while size < orders {
        sizes.push(size);
        size = (size + size.div_ceil(3)).max(size + 1);
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn the_ladder_grows_by_about_a_third() {
        assert_eq!(ladder(30), [1, 2, 3, 4, 6, 8, 11, 15, 20, 27]);
        assert!(ladder(1).is_empty());
    }

    #[test]
    fn the_smallest_failing_size_is_found_even_between_rungs() {
        // Fails at 9 and from 12 on: the ladder passes 8, fails at 11, then
        // 9 is the first failure above 8.
        let tried = RefCell::new(Vec::new());
        let storm = |n: usize| {
            tried.borrow_mut().push(n);
            (n == 9 || n >= 12 || n == 11).then_some(n)
        };
        let shrunk = shrink(30, storm).unwrap();
        assert_eq!((shrunk.orders, shrunk.asked, shrunk.run), (9, 30, 9));
        assert_eq!(*tried.borrow(), [30, 1, 2, 3, 4, 6, 8, 11, 9]);
    }

    #[test]
    fn a_storm_that_fails_only_whole_is_its_own_smallest() {
        let shrunk = shrink(5, |n| (n == 5).then_some(())).unwrap();
        assert_eq!((shrunk.orders, shrunk.asked), (5, 5));
        assert_eq!(
            shrunk.describe(),
            "shrunk: no smaller storm fails (same seed; with 4 orders it passes)"
        );
    }

    #[test]
    fn a_passing_storm_runs_once() {
        let runs = RefCell::new(0);
        let shrunk = shrink(30, |_| -> Option<()> {
            *runs.borrow_mut() += 1;
            None
        });
        assert!(shrunk.is_none());
        assert_eq!(*runs.borrow(), 1);
    }
}
