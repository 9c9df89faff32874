//! Paging of the API's lists: cursor (keyset) paging where the server offers it (Airflow
//! 3.3+), else offset paging. A resource's list builds its own query with the page size from
//! [`Pager::limit`] and the position from [`Pager::position`], then tells the pager what the
//! page held ([`Pager::advance`]); [`Pager::done`] says when the list is over.
//!
//! The pager trusts what it received, not what the server says it has: an offset list ends at
//! an empty page (a `total_entries` too small, or a server capping `limit` below what was asked,
//! never ends it early), a cursor list when the cursor runs out. What the server announced is
//! then checked both ways: a page with more rows than asked, a negative `total_entries`, or a
//! list that ended with fewer rows than its last `total_entries` announced fails the list, since
//! each could mean runs were skipped.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use super::client::Generation;

/// Where a list is in its pages.
#[derive(Debug)]
pub(super) struct Pager {
    offset: u64,
    /// None before the first page; then whether the server pages by cursor.
    cursor: Option<Option<String>>,
    done: bool,
    /// Rows per page; None for the configured page size.
    limit: Option<u64>,
    /// Pages read.
    pages: u64,
    /// The cursors already followed: one coming back means the list loops.
    cursors: HashSet<String>,
    /// What the previous page held (see [`fingerprint`]).
    previous: Option<u64>,
    /// Rows received over all pages.
    received: u64,
}

/// A page's identity: its first and last row keys. Two pages in a row with the same one are the
/// same page again, which a server whose paging is broken sends forever.
pub(super) fn fingerprint<K: Hash>(first: Option<K>, last: Option<K>) -> Option<u64> {
    let first = first?;
    let mut h = DefaultHasher::new();
    first.hash(&mut h);
    last.hash(&mut h);
    Some(h.finish())
}

/// What a page said about the list, for [`Pager::advance`].
#[derive(Debug, Clone, Copy)]
pub(super) struct PageFacts<'a> {
    /// Rows on the page.
    pub(super) got: u64,
    /// Rows the request asked for at most.
    pub(super) asked: u64,
    /// The list's `total_entries`.
    pub(super) total_entries: Option<i64>,
    /// `total_entries_limit`: set (not null) only when the server paged by cursor.
    pub(super) total_entries_limit: Option<i64>,
    /// `next_cursor`.
    pub(super) next_cursor: Option<&'a str>,
    /// The page's [`fingerprint`] (None when empty).
    pub(super) fingerprint: Option<u64>,
}

impl Pager {
    /// Before the first page, at the configured page size.
    pub(super) fn new() -> Self {
        Pager {
            offset: 0,
            cursor: None,
            done: false,
            limit: None,
            pages: 0,
            cursors: HashSet::new(),
            previous: None,
            received: 0,
        }
    }

    /// Before the first page of a list that pages by offset only (the task-instance batch
    /// list), at `limit` rows a page.
    pub(super) fn by_offset(limit: u64) -> Self {
        Pager {
            cursor: Some(None),
            ..Pager::one(limit)
        }
    }

    /// The offset of the next page: the rows received so far.
    pub(super) fn offset(&self) -> u64 {
        self.offset
    }

    /// Before the first page, at `limit` rows a page.
    pub(super) fn one(limit: u64) -> Self {
        Pager {
            limit: Some(limit),
            ..Pager::new()
        }
    }

    /// Whether the list has no more pages.
    pub(super) fn done(&self) -> bool {
        self.done
    }

    /// Rows to ask for per page: the pager's own limit, else `page_size`.
    pub(super) fn limit(&self, page_size: u64) -> u64 {
        self.limit.unwrap_or(page_size)
    }

    /// The query parameter that says which page is wanted.
    pub(super) fn position(&self, generation: Generation) -> (&'static str, String) {
        match (&self.cursor, generation) {
            // Airflow 3.3+ pages by cursor when asked with an empty one; older 3.x ignore it.
            (None, Generation::V2) => ("cursor", String::new()),
            (Some(Some(cursor)), _) => ("cursor", cursor.clone()),
            _ => ("offset", self.offset.to_string()),
        }
    }

    /// Pages read so far.
    pub(super) fn pages(&self) -> u64 {
        self.pages
    }

    /// Moves past a page that held `page`; an error says how the list loops (the same page
    /// twice in a row, or a cursor that comes back), so the caller stops instead of asking
    /// forever, or how the server's answers disagree in a way that could skip rows.
    pub(super) fn advance(&mut self, page: PageFacts<'_>) -> Result<(), String> {
        self.pages += 1;
        if let Some(total) = page.total_entries
            && total < 0
        {
            return Err(format!("total_entries is {total}, not a count"));
        }
        if page.got > page.asked {
            return Err(format!(
                "a page held {} rows where at most {} were asked for, so offsets cannot be trusted",
                page.got, page.asked
            ));
        }
        self.received += page.got;
        if page.fingerprint.is_some() && page.fingerprint == self.previous {
            return Err(format!(
                "the same page of {} rows came twice in a row",
                page.got
            ));
        }
        self.previous = page.fingerprint;
        if let Some(next) = page.next_cursor
            && !self.cursors.insert(next.to_string())
        {
            return Err(format!("cursor {next:?} came back"));
        }
        let cursor_mode = match self.cursor {
            None => page.total_entries_limit.is_some(),
            Some(ref c) => c.is_some(),
        };
        if cursor_mode {
            self.done = page.next_cursor.is_none() || page.got == 0;
            self.cursor = Some(page.next_cursor.map(str::to_string));
        } else {
            // Only an empty page ends an offset list: total_entries may lie or the server may
            // cap the page size below the one asked for.
            self.cursor = Some(None);
            self.offset += page.got;
            self.done = page.got == 0;
        }
        if self.done
            && let Some(total) = page.total_entries
            && self.received < total as u64
        {
            return Err(format!(
                "the list ended after {} rows although total_entries announced {total}",
                self.received
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(got: u64, key: u32, next_cursor: Option<&str>) -> PageFacts<'_> {
        PageFacts {
            got,
            asked: 100,
            total_entries: Some(1_000_000),
            total_entries_limit: next_cursor.map(|_| 1_000_000),
            next_cursor,
            fingerprint: fingerprint(Some(key), Some(key + 1)),
        }
    }

    #[test]
    fn a_page_or_a_cursor_that_comes_back_stops_the_list() {
        let mut offset = Pager::new();
        offset.advance(page(100, 1, None)).unwrap();
        offset.advance(page(100, 2, None)).unwrap();
        let err = offset.advance(page(100, 2, None)).unwrap_err();
        assert!(err.contains("same page of 100 rows"), "{err}");

        let mut cursor = Pager::new();
        cursor.advance(page(100, 1, Some("a"))).unwrap();
        cursor.advance(page(100, 2, Some("b"))).unwrap();
        let err = cursor.advance(page(100, 3, Some("a"))).unwrap_err();
        assert!(err.contains("cursor \"a\" came back"), "{err}");
        assert_eq!(cursor.pages(), 3);
    }

    fn offset_page(got: u64, key: u32, total: i64) -> PageFacts<'static> {
        PageFacts {
            got,
            asked: 100,
            total_entries: Some(total),
            total_entries_limit: None,
            next_cursor: None,
            fingerprint: fingerprint((got > 0).then_some(key), Some(key + 1)),
        }
    }

    #[test]
    fn an_offset_list_ends_at_an_empty_page_whatever_total_entries_says() {
        // total_entries too small: the list goes on to the empty page.
        let mut pager = Pager::new();
        pager.advance(offset_page(100, 1, 10)).unwrap();
        assert!(!pager.done());
        pager.advance(offset_page(50, 2, 10)).unwrap();
        assert!(!pager.done());
        assert_eq!(pager.offset(), 150);
        pager.advance(offset_page(0, 3, 150)).unwrap();
        assert!(pager.done());
        // A page shorter than asked (a server capping the page size) does not end it either.
        let mut capped = Pager::by_offset(1000);
        capped.advance(offset_page(100, 1, 250)).unwrap();
        assert!(!capped.done());
    }

    #[test]
    fn answers_that_could_skip_rows_fail_the_list() {
        let err = Pager::new().advance(offset_page(100, 1, -5)).unwrap_err();
        assert!(err.contains("total_entries is -5"), "{err}");
        let mut big = offset_page(105, 1, 250);
        big.asked = 100;
        let err = Pager::new().advance(big).unwrap_err();
        assert!(err.contains("held 105 rows where at most 100"), "{err}");
        // Fewer rows than announced by the time the list ended.
        let mut short = Pager::new();
        short.advance(offset_page(100, 1, 250)).unwrap();
        let err = short.advance(offset_page(0, 2, 250)).unwrap_err();
        assert!(
            err.contains("ended after 100 rows although total_entries announced 250"),
            "{err}"
        );
        // More rows than announced (runs added while paging) is no loss.
        let mut more = Pager::new();
        more.advance(offset_page(100, 1, 50)).unwrap();
        more.advance(offset_page(0, 2, 50)).unwrap();
        assert!(more.done());
    }
}
