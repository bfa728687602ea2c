//! Limits that hold at execution as well as validation (docs/DESIGN.md §4.3): what a
//! plain list costs, how many aliased fields a document may have, and the
//! request's count of resolved objects.

use std::sync::atomic::{AtomicU64, Ordering};

use async_graphql::Context;

use super::context::ContextExt;
use crate::error::Error;

/// A plain list's share of the query complexity: each of up to `max_len`
/// items costs what is selected inside it, as a connection's nodes do
/// (`super::pagination::connection_complexity`). `max_len` is the cap
/// enforced where the list's rows are written. An item counts at least 1
/// even when only `__typename` (which costs nothing) is selected.
pub fn list_complexity(max_len: impl TryInto<usize>, child_complexity: usize) -> usize {
    max_len
        .try_into()
        .unwrap_or(usize::MAX)
        .saturating_mul(child_complexity.max(1))
        .saturating_add(1)
}

/// What a field that checks or hashes a password costs: more than half
/// the default complexity limit, so that one request runs at most one
/// argon2id (tens of milliseconds and 19 MiB each), whatever its aliases.
pub const PASSWORD_COMPLEXITY: usize = 2501;

/// Objects resolved so far by one request, against its limit. Lives in
/// the request's [`super::context::RequestContext`]; each list adds its
/// length where it is built (one atomic add, no allocation).
#[derive(Debug)]
pub struct ResolvedObjects {
    count: AtomicU64,
    limit: u64,
}

impl ResolvedObjects {
    /// A fresh count for a request that may resolve `limit` objects.
    pub fn new(limit: u32) -> ResolvedObjects {
        ResolvedObjects {
            count: AtomicU64::new(0),
            limit: u64::from(limit),
        }
    }

    /// Adds `objects` just resolved; past the limit, the request is
    /// stopped: this list, and every one after it, is an error.
    pub fn add(&self, objects: usize) -> Result<(), Error> {
        let objects = u64::try_from(objects).unwrap_or(u64::MAX);
        let before = self.count.fetch_add(objects, Ordering::Relaxed);
        if before.saturating_add(objects) > self.limit {
            return Err(Error::bad_input(format!(
                "this request resolves more than {} objects, the most one request may; ask for \
                 smaller pages or fewer lists",
                self.limit
            )));
        }
        Ok(())
    }
}

impl Clone for ResolvedObjects {
    fn clone(&self) -> Self {
        ResolvedObjects {
            count: AtomicU64::new(self.count.load(Ordering::Relaxed)),
            limit: self.limit,
        }
    }
}

/// Counts `objects` against the request's limit (see [`ResolvedObjects`]).
pub fn count_resolved(ctx: &Context<'_>, objects: usize) -> Result<(), Error> {
    ctx.request()?.resolved.add(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_costs_its_maximum_length_times_its_children() {
        assert_eq!(list_complexity(50, 2), 101);
        assert_eq!(list_complexity(1, 1), 2);
        assert_eq!(list_complexity(20, 0), 21);
        assert_eq!(list_complexity(u64::MAX, 2), usize::MAX);
    }

    #[test]
    fn resolved_objects_stop_past_the_limit_and_stay_stopped() {
        let resolved = ResolvedObjects::new(10);
        assert!(resolved.add(4).is_ok());
        assert!(resolved.add(6).is_ok());
        let Err(Error::BadUserInput(message)) = resolved.add(1) else {
            panic!("over the limit");
        };
        assert!(message.contains("more than 10 objects"), "{message}");
        assert!(resolved.add(0).is_err());
        assert!(ResolvedObjects::new(10).add(usize::MAX).is_err());
    }
}
