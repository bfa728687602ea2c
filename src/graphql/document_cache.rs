//! Parsed query documents, kept by their text.
//!
//! Clients send the same few queries over and over (a pipeline verifying
//! its token, a front-end's page queries), and parsing is a tenth of the
//! CPU an authenticated request costs (BENCHMARKS.md). A document parsed
//! once is cloned for later requests with the same text; validation and
//! execution still run on every request.
//!
//! Only documents whose operations are all queries are kept. Mutations can
//! carry secrets in their text (`login(password: "…")`,
//! `acceptInvitation(input: {code: "…"})`), and a secret must not outlive
//! its request in memory. The cache is bounded by the total length of the
//! texts it holds, and a long text is never kept, so that a client sending
//! endless distinct queries only evicts older entries.

use async_graphql::{
    ServerError,
    parser::types::{DocumentOperations, ExecutableDocument, OperationType},
};
use quick_cache::{Weighter, sync::Cache};

/// The longest query text that is cached, in bytes.
pub const MAX_CACHED_QUERY_BYTES: usize = 8 * 1024;
/// The total length of the query texts cached, in bytes.
const CAPACITY_BYTES: u64 = 1024 * 1024;
/// How many entries the cache sizes itself for up front.
const ESTIMATED_ENTRIES: usize = 1024;

/// Parsed documents by query text.
pub struct DocumentCache {
    documents: Cache<String, ExecutableDocument, TextLength>,
}

/// An entry weighs as much as its text (a document's size follows it).
#[derive(Clone)]
struct TextLength;

impl Weighter<String, ExecutableDocument> for TextLength {
    fn weight(&self, query: &String, _: &ExecutableDocument) -> u64 {
        query.len() as u64
    }
}

impl Default for DocumentCache {
    fn default() -> Self {
        DocumentCache {
            documents: Cache::with_weighter(ESTIMATED_ENTRIES, CAPACITY_BYTES, TextLength),
        }
    }
}

impl std::fmt::Debug for DocumentCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentCache")
            .field("entries", &self.documents.len())
            .finish()
    }
}

impl DocumentCache {
    /// The request's parsed document: from the cache when its text was
    /// seen before, else parsed (and kept, when it may be). Execution
    /// reuses it either way.
    pub fn parse<'r>(
        &self,
        request: &'r mut async_graphql::Request,
    ) -> Result<&'r ExecutableDocument, ServerError> {
        let cacheable = request.query.len() <= MAX_CACHED_QUERY_BYTES;
        if cacheable && let Some(document) = self.documents.get(request.query.as_str()) {
            request.set_parsed_query(document);
            return request.parsed_query();
        }
        // Only a query's text is copied: a mutation's may hold a secret.
        if cacheable && only_queries(request.parsed_query()?) {
            let document = request.parsed_query()?.clone();
            self.documents.insert(request.query.clone(), document);
        }
        request.parsed_query()
    }

    /// How many documents are cached.
    pub fn len(&self) -> usize {
        self.documents.len()
    }

    /// Whether no document is cached.
    pub fn is_empty(&self) -> bool {
        self.documents.len() == 0
    }
}

/// Whether every operation of the document is a query.
fn only_queries(document: &ExecutableDocument) -> bool {
    match &document.operations {
        DocumentOperations::Single(operation) => operation.node.ty == OperationType::Query,
        DocumentOperations::Multiple(operations) => operations
            .values()
            .all(|operation| operation.node.ty == OperationType::Query),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(cache: &DocumentCache, query: &str) -> Result<ExecutableDocument, ServerError> {
        let mut request = async_graphql::Request::new(query);
        cache.parse(&mut request).cloned()
    }

    #[test]
    fn a_query_is_parsed_once_and_then_served_from_the_cache() {
        let cache = DocumentCache::default();
        let query = "{ organization { id name } }";
        let first = parse(&cache, query).expect("parses");
        assert_eq!(cache.len(), 1);
        let second = parse(&cache, query).expect("cached");
        assert_eq!(cache.len(), 1);
        assert_eq!(format!("{first:?}"), format!("{second:?}"));
    }

    #[test]
    fn mutations_are_never_kept_since_their_text_can_hold_secrets() {
        let cache = DocumentCache::default();
        parse(
            &cache,
            r#"mutation { login(email: "a@b.c", password: "hunter2") { token } }"#,
        )
        .expect("parses");
        parse(
            &cache,
            r#"query A { organization { id } } mutation B { logout }"#,
        )
        .expect("parses");
        assert!(cache.is_empty());
    }

    #[test]
    fn long_queries_and_syntax_errors_are_not_kept() {
        let cache = DocumentCache::default();
        let long = format!(
            "{{ organization {{ id {} }} }}",
            "name ".repeat(MAX_CACHED_QUERY_BYTES)
        );
        parse(&cache, &long).expect("parses");
        assert!(parse(&cache, "{ organization { id ").is_err());
        assert!(cache.is_empty());
    }

    #[test]
    fn the_cache_is_bounded_by_the_length_of_its_texts() {
        let cache = DocumentCache::default();
        let padding = "id ".repeat(1000);
        for i in 0..600 {
            parse(
                &cache,
                &format!("query Q{i} {{ organization {{ {padding} }} }}"),
            )
            .expect("parses");
        }
        let held = cache.len() as u64 * (padding.len() as u64 + 40);
        assert!(
            held <= CAPACITY_BYTES + 64 * 1024,
            "{} entries",
            cache.len()
        );
        assert!(!cache.is_empty());
    }
}
