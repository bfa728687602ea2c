//! Relay connections over UUIDv7 ids: ids are time-ordered, so the id is
//! the cursor and `ORDER BY id` is creation order.

use async_graphql::{
    Context, OutputType,
    connection::{Connection, Edge},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};
use uuid::Uuid;

use super::limits::count_resolved;
use crate::error::Error;

/// Page size when `first` is not given.
pub const DEFAULT_PAGE_SIZE: i32 = 50;
/// Largest `first` accepted.
pub const MAX_PAGE_SIZE: i32 = 100;
/// What a connection costs beyond its nodes: each is a statement of its
/// own, so a connection under a list of 100 costs 100 statements
/// (BENCHMARKS.md: 2,400 of them took 180 ms of CPU at 1 each).
pub const STATEMENT_COMPLEXITY: usize = 10;

/// A connection's share of the query complexity: each of up to `first`
/// nodes costs what is selected inside it, so nested lists multiply
/// (`projects(first: 100) { sboms(first: 100) { … } }` costs 10,000 times
/// its innermost selection) and no request asks for unbounded work. A
/// node counts at least 1 even when only `__typename` (which costs
/// nothing) is selected: its row is fetched all the same.
pub fn connection_complexity(first: Option<i32>, child_complexity: usize) -> usize {
    let nodes = first.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE);
    usize::try_from(nodes)
        .unwrap_or(1)
        .saturating_mul(child_complexity.max(1))
        .saturating_add(STATEMENT_COMPLEXITY)
}

/// The order of a list that offers one: by creation, either way.
#[derive(async_graphql::Enum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ListOrder {
    /// Oldest first (the default).
    #[default]
    OldestFirst,
    /// Newest first, as a console lists tokens.
    NewestFirst,
}

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub first: u64,
    pub after: Option<Uuid>,
}

impl Page {
    /// Validates `first` and `after`.
    pub fn new(first: Option<i32>, after: Option<String>) -> Result<Page, Error> {
        let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&first) {
            return Err(Error::bad_input(format!(
                "`first` must be between 1 and {MAX_PAGE_SIZE} (got {first})"
            )));
        }
        let after = after
            .map(|cursor| {
                Uuid::parse_str(&cursor).map_err(|_| {
                    Error::bad_input("`after` is not a valid cursor; pass a `pageInfo.endCursor`")
                })
            })
            .transpose()?;
        Ok(Page {
            first: u64::try_from(first).unwrap_or(50),
            after,
        })
    }

    /// Orders by `id`, starts after the cursor and fetches one extra row to
    /// learn whether there is a next page.
    pub fn apply<E: EntityTrait>(&self, select: Select<E>, id: E::Column) -> Select<E>
    where
        E::Column: ColumnTrait,
    {
        let select = match self.after {
            Some(after) => select.filter(id.gt(after)),
            None => select,
        };
        select.order_by_asc(id).limit(self.first + 1)
    }

    /// Like [`Page::apply`], newest first (for logs).
    pub fn apply_newest_first<E: EntityTrait>(&self, select: Select<E>, id: E::Column) -> Select<E>
    where
        E::Column: ColumnTrait,
    {
        let select = match self.after {
            Some(after) => select.filter(id.lt(after)),
            None => select,
        };
        select.order_by_desc(id).limit(self.first + 1)
    }

    /// [`Page::apply`] or [`Page::apply_newest_first`], as `order` asks.
    pub fn apply_in<E: EntityTrait>(
        &self,
        order: ListOrder,
        select: Select<E>,
        id: E::Column,
    ) -> Select<E>
    where
        E::Column: ColumnTrait,
    {
        match order {
            ListOrder::OldestFirst => self.apply(select, id),
            ListOrder::NewestFirst => self.apply_newest_first(select, id),
        }
    }

    /// Builds the connection from the fetched rows (at most `first + 1`),
    /// counting its nodes against the request's limit
    /// ([`super::limits::ResolvedObjects`]).
    pub fn connection<M, N: OutputType>(
        &self,
        ctx: &Context<'_>,
        mut rows: Vec<M>,
        id: impl Fn(&M) -> Uuid,
        node: impl Fn(M) -> N,
    ) -> Result<Connection<String, N>, Error> {
        let has_next = rows.len() as u64 > self.first;
        rows.truncate(usize::try_from(self.first).unwrap_or(usize::MAX));
        count_resolved(ctx, rows.len())?;
        let mut connection = Connection::new(self.after.is_some(), has_next);
        connection.edges.extend(
            rows.into_iter()
                .map(|row| Edge::new(id(&row).to_string(), node(row))),
        );
        Ok(connection)
    }
}

impl Page {
    /// [`Page::connection`] over objects built through a reach check
    /// (`auth::reach`): a row the caller may not see is left out, as
    /// if it did not exist. The page may then hold fewer than `first`.
    pub fn connection_of_reached<M, N: OutputType>(
        &self,
        ctx: &Context<'_>,
        mut rows: Vec<M>,
        id: impl Fn(&M) -> Uuid,
        node: impl Fn(M) -> Result<N, Error>,
    ) -> Result<Connection<String, N>, Error> {
        let has_next = rows.len() as u64 > self.first;
        rows.truncate(usize::try_from(self.first).unwrap_or(usize::MAX));
        count_resolved(ctx, rows.len())?;
        let mut connection = Connection::new(self.after.is_some(), has_next);
        connection.edges.extend(rows.into_iter().filter_map(|row| {
            let cursor = id(&row).to_string();
            node(row).ok().map(|node| Edge::new(cursor, node))
        }));
        Ok(connection)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_costs_first_times_its_selection_and_a_node_at_least_one() {
        assert_eq!(connection_complexity(Some(10), 3), 40);
        assert_eq!(connection_complexity(None, 2), 110);
        assert_eq!(connection_complexity(Some(100), 0), 110);
        assert_eq!(connection_complexity(Some(1000), 1), 110);
    }

    #[test]
    fn page_bounds() {
        assert_eq!(Page::new(None, None).unwrap().first, 50);
        assert!(Page::new(Some(0), None).is_err());
        assert!(Page::new(Some(101), None).is_err());
        assert!(Page::new(Some(10), Some("nope".into())).is_err());
        let id = Uuid::now_v7();
        assert_eq!(
            Page::new(Some(10), Some(id.to_string())).unwrap().after,
            Some(id)
        );
    }
}
