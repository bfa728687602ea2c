//! Parsed query documents, kept by their text.
//!
//! Clients send the same few queries over and over (a pipeline verifying
//! its token, a front-end's page queries), and parsing is a tenth of the
//! CPU an authenticated request costs (BENCHMARKS.md). A document parsed
//! once is cloned for later requests with the same text.
//!
//! An entry also remembers whether its document has passed async-graphql's
//! full validation ([`Validation`]), which is another twentieth. That holds
//! for every later request with the same text when the document declares
//! no variables: validation then depends on the document and the schema
//! only. Such a request runs with `ValidationMode::Fast`, which still
//! enforces the depth and complexity limits. Authorization is never part
//! of validation: every field still checks the principal's permissions.
//!
//! Only documents whose operations are all queries are kept. Mutations can
//! carry secrets in their text (`login(password: "…")`,
//! `acceptInvitation(input: {code: "…"})`), and a secret must not outlive
//! its request in memory. The cache is bounded by the total length of the
//! texts it holds, and a long text is never kept, so that a client sending
//! endless distinct queries only evicts older entries.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use async_graphql::{
    ServerError,
    parser::types::{DocumentOperations, ExecutableDocument, OperationDefinition, OperationType},
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
    documents: Cache<String, Arc<Entry>, TextLength>,
}

/// A cached document and what is known of its validation.
struct Entry {
    document: ExecutableDocument,
    /// No operation of the document declares a variable.
    without_variables: bool,
    /// A request with this document passed full validation.
    validated: AtomicBool,
}

/// An entry weighs as much as its text (a document's size follows it).
#[derive(Clone)]
struct TextLength;

impl Weighter<String, Arc<Entry>> for TextLength {
    fn weight(&self, query: &String, _: &Arc<Entry>) -> u64 {
        query.len() as u64
    }
}

/// Whether a request's document is known to pass full validation, and the
/// means to learn it from the request's response.
#[derive(Default)]
pub struct Validation(Option<Arc<Entry>>);

impl Validation {
    /// The cached document, if the request's text is cached.
    pub fn document(&self) -> Option<&ExecutableDocument> {
        self.0.as_ref().map(|entry| &entry.document)
    }

    /// The document passed full validation before, and declares no
    /// variables: the request may run with `ValidationMode::Fast`.
    pub fn is_proven(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|entry| entry.validated.load(Ordering::Relaxed))
    }

    /// Learns from the response of a request run with full validation: one
    /// without any error passed it (a request that fails validation is not
    /// executed, and its response says why). Documents with variables are
    /// never marked: their validation depends on the variables' values.
    pub fn learn(&self, response: &async_graphql::Response) {
        if let Some(entry) = &self.0
            && entry.without_variables
            && response.errors.is_empty()
        {
            entry.validated.store(true, Ordering::Relaxed);
        }
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
    /// reuses it either way. With it comes what the cache knows of its
    /// validation (nothing, for a document it does not keep).
    pub fn parse<'r>(
        &self,
        request: &'r mut async_graphql::Request,
    ) -> Result<(&'r ExecutableDocument, Validation), ServerError> {
        let cacheable = request.query.len() <= MAX_CACHED_QUERY_BYTES;
        if cacheable && let Some(entry) = self.documents.get(request.query.as_str()) {
            request.set_parsed_query(entry.document.clone());
            return Ok((request.parsed_query()?, Validation(Some(entry))));
        }
        let mut validation = Validation::default();
        // Only a query's text is copied: a mutation's may hold a secret.
        if cacheable && only_queries(request.parsed_query()?) {
            let document = request.parsed_query()?.clone();
            let entry = Arc::new(Entry {
                without_variables: without_variables(&document),
                document,
                validated: AtomicBool::new(false),
            });
            self.documents
                .insert(request.query.clone(), Arc::clone(&entry));
            validation = Validation(Some(entry));
        }
        Ok((request.parsed_query()?, validation))
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
    all_operations(document, |operation| operation.ty == OperationType::Query)
}

/// Whether no operation of the document declares a variable.
fn without_variables(document: &ExecutableDocument) -> bool {
    all_operations(document, |operation| {
        operation.variable_definitions.is_empty()
    })
}

fn all_operations(
    document: &ExecutableDocument,
    test: impl Fn(&OperationDefinition) -> bool,
) -> bool {
    match &document.operations {
        DocumentOperations::Single(operation) => test(&operation.node),
        DocumentOperations::Multiple(operations) => {
            operations.values().all(|operation| test(&operation.node))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(cache: &DocumentCache, query: &str) -> Result<ExecutableDocument, ServerError> {
        parse_with_validation(cache, query).map(|(document, _)| document)
    }

    fn parse_with_validation(
        cache: &DocumentCache,
        query: &str,
    ) -> Result<(ExecutableDocument, Validation), ServerError> {
        let mut request = async_graphql::Request::new(query);
        cache
            .parse(&mut request)
            .map(|(document, validation)| (document.clone(), validation))
    }

    fn clean_response() -> async_graphql::Response {
        async_graphql::Response::new(async_graphql::Value::Null)
    }

    fn failed_response() -> async_graphql::Response {
        async_graphql::Response::from_errors(vec![ServerError::new(
            r#"Unknown field "nope" on type "Query"."#,
            None,
        )])
    }

    #[test]
    fn a_document_is_proven_by_a_response_without_errors_and_stays_proven() {
        let cache = DocumentCache::default();
        let query = "{ organization { id name } }";
        let (_, validation) = parse_with_validation(&cache, query).expect("parses");
        assert!(!validation.is_proven());
        validation.learn(&failed_response());
        assert!(!parse_with_validation(&cache, query).unwrap().1.is_proven());
        validation.learn(&clean_response());
        assert!(validation.is_proven());
        let (_, again) = parse_with_validation(&cache, query).expect("cached");
        assert!(again.is_proven());
        // Another text is another document.
        let (_, other) = parse_with_validation(&cache, "{ organization { id } }").unwrap();
        assert!(!other.is_proven());
    }

    #[test]
    fn documents_with_variables_or_not_cached_are_never_proven() {
        let cache = DocumentCache::default();
        let with_variables = "query Tokens($first: Int) { tokens(first: $first) { nodes { id } } }";
        let (_, validation) = parse_with_validation(&cache, with_variables).unwrap();
        validation.learn(&clean_response());
        assert!(
            !parse_with_validation(&cache, with_variables)
                .unwrap()
                .1
                .is_proven()
        );

        let mutation = "mutation { logout }";
        let (_, validation) = parse_with_validation(&cache, mutation).unwrap();
        validation.learn(&clean_response());
        assert!(!validation.is_proven());
        assert!(
            !parse_with_validation(&cache, mutation)
                .unwrap()
                .1
                .is_proven()
        );
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
