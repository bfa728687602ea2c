//! At most [`MAX_ALIASED_FIELDS`] aliased fields per document (docs/DESIGN.md §4.3).
//! Aliases let one small document run the same field hundreds of times;
//! the complexity limit prices each one, and this caps how many there are.

use std::collections::HashMap;

use async_graphql::{
    Name,
    parser::types::{DocumentOperations, ExecutableDocument, Selection, SelectionSet},
};

/// The most aliased fields a document may have.
pub const MAX_ALIASED_FIELDS: usize = 50;

/// Why a document is refused, if it has too many aliased fields.
pub fn check(document: &ExecutableDocument) -> Result<(), String> {
    let count = aliased_fields(document);
    if count > MAX_ALIASED_FIELDS {
        return Err(format!(
            "the document has {count} aliased fields; at most {MAX_ALIASED_FIELDS} are accepted. \
             Send separate requests, or select each field once"
        ));
    }
    Ok(())
}

/// The aliased fields of every operation of the document, a fragment's
/// counted each time it is spread (as execution would run them).
pub fn aliased_fields(document: &ExecutableDocument) -> usize {
    let mut counter = Counter {
        document,
        fragments: HashMap::new(),
    };
    match &document.operations {
        DocumentOperations::Single(operation) => {
            counter.selection_set(&operation.node.selection_set.node)
        }
        DocumentOperations::Multiple(operations) => {
            operations.values().fold(0, |sum, operation| {
                sum.saturating_add(counter.selection_set(&operation.node.selection_set.node))
            })
        }
    }
}

struct Counter<'a> {
    document: &'a ExecutableDocument,
    /// Each fragment's count, once known; `None` while it is being counted,
    /// so that a cycle (refused later by validation) counts nothing more.
    fragments: HashMap<&'a Name, Option<usize>>,
}

impl<'a> Counter<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet) -> usize {
        set.items.iter().fold(0, |sum, item| {
            let here = match &item.node {
                Selection::Field(field) => usize::from(field.node.alias.is_some())
                    .saturating_add(self.selection_set(&field.node.selection_set.node)),
                Selection::InlineFragment(inline) => {
                    self.selection_set(&inline.node.selection_set.node)
                }
                Selection::FragmentSpread(spread) => self.fragment(&spread.node.fragment_name.node),
            };
            sum.saturating_add(here)
        })
    }

    /// A fragment's count, computed once (a chain of fragments each
    /// spreading the next twice would otherwise take exponential time).
    fn fragment(&mut self, name: &'a Name) -> usize {
        if let Some(known) = self.fragments.get(name) {
            return known.unwrap_or(0);
        }
        let Some(fragment) = self.document.fragments.get(name) else {
            return 0;
        };
        self.fragments.insert(name, None);
        let count = self.selection_set(&fragment.node.selection_set.node);
        self.fragments.insert(name, Some(count));
        count
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    use super::*;

    fn count(query: &str) -> usize {
        aliased_fields(&parse_query(query).expect("parses"))
    }

    #[test]
    fn aliases_are_counted_wherever_they_are() {
        assert_eq!(count("{ organization { id name } }"), 0);
        assert_eq!(count("{ a: organization { b: id name } }"), 2);
        assert_eq!(count("{ ... on Query { a: organization { id } } }"), 1);
        assert_eq!(
            count("query A { a: organization { id } } query B { b: viewer { kind } }"),
            2
        );
    }

    #[test]
    fn a_fragment_counts_each_time_it_is_spread() {
        assert_eq!(
            count(
                "{ ...F ...F organization { ...G } } fragment F on Query { a: organization { id } b: viewer { kind } } fragment G on Organization { n: name }"
            ),
            5
        );
        // Unused fragments run nothing.
        assert_eq!(
            count("{ organization { id } } fragment F on Query { a: organization { id } }"),
            0
        );
    }

    #[test]
    fn fragment_chains_and_cycles_are_counted_quickly() {
        let mut query = String::from("{ ...F0 } fragment F0 on Query { a: organization { id } }");
        for i in 1..=64 {
            query.push_str(&format!(
                " fragment F{i} on Query {{ ...F{} ...F{} }}",
                i - 1,
                i - 1
            ));
        }
        query = query.replacen("{ ...F0 }", "{ ...F64 }", 1);
        assert_eq!(count(&query), usize::MAX);
        assert_eq!(
            count(
                "{ ...A } fragment A on Query { a: organization { id } ...B } fragment B on Query { ...A }"
            ),
            1
        );
    }

    #[test]
    fn more_than_fifty_are_refused_with_the_count() {
        let aliases = |n: usize| -> String {
            (0..n)
                .map(|i| format!("a{i}: organization {{ id }} "))
                .collect()
        };
        let parse = |n: usize| parse_query(format!("{{ {} }}", aliases(n))).expect("parses");
        assert!(check(&parse(50)).is_ok());
        assert_eq!(
            check(&parse(51)).unwrap_err(),
            "the document has 51 aliased fields; at most 50 are accepted. Send separate \
             requests, or select each field once"
        );
    }
}
