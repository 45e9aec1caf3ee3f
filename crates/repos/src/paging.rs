//! Keyset pages: read one row more than the page holds, and the page's last id is the
//! cursor of the next one when that extra row exists.

/// A page of rows and the cursor of the next page, if there is one.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// The page of `rows`, read with `LIMIT limit + 1` in id order; `id` names a row.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, id: impl Fn(&T) -> &str) -> Self {
        let limit = limit as usize;
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(|r| id(r).to_owned())
        } else {
            None
        };
        Self {
            items: rows,
            next_cursor,
        }
    }

    /// The same page with each row turned into something else.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Page;

    #[test]
    fn the_extra_row_becomes_the_next_cursor() {
        let rows = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>();
        let page = Page::from_rows(rows(4), 3, String::as_str);
        assert_eq!(
            (page.items.len(), page.next_cursor.as_deref()),
            (3, Some("2"))
        );
        let last = Page::from_rows(rows(3), 3, String::as_str);
        assert_eq!((last.items.len(), last.next_cursor), (3, None));
        assert!(Page::from_rows(rows(0), 3, String::as_str).items.is_empty());
    }
}
