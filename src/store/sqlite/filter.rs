//! `WHERE` clauses built from optional filters, with numbered parameters.

use rusqlite::{Connection, Row};

use super::{select, to_i64};
use crate::store::SeqCursor;
use crate::store::StoreError;

/// A `WHERE` clause built from optional filters: `?` in each clause becomes the next parameter.
pub(crate) struct Where {
    pub sql: String,
    pub args: Vec<rusqlite::types::Value>,
}

impl Where {
    pub fn new(select: String) -> Where {
        Where {
            sql: select,
            args: Vec::new(),
        }
    }

    /// Adds ` AND clause` with `value` bound to its `?`, when there is a value.
    pub fn and_opt<V: Into<rusqlite::types::Value>>(&mut self, clause: &str, value: Option<V>) {
        if let Some(v) = value {
            self.args.push(v.into());
            let n = self.args.len();
            self.sql.push_str(" AND ");
            self.sql
                .push_str(&clause.replacen('?', &format!("?{n}"), 1));
        }
    }

    /// Adds ` AND clause`, each `?` in it bound to the next of `values`.
    pub fn and_all(&mut self, clause: &str, values: Vec<rusqlite::types::Value>) {
        let mut out = String::with_capacity(clause.len() + 8);
        let mut values = values.into_iter().peekable();
        for c in clause.chars() {
            match (c, values.next_if(|_| c == '?')) {
                ('?', Some(v)) => {
                    self.args.push(v);
                    out.push_str(&format!("?{}", self.args.len()));
                }
                _ => out.push(c),
            }
        }
        self.sql.push_str(" AND ");
        self.sql.push_str(&out);
    }

    /// Adds ` AND` rows after `cursor` in (corp_id, seq) order, as a row-value comparison: SQLite
    /// seeks the (corp_id, seq) index straight to it, where the spelled-out `OR` form scanned the
    /// corp from its first row on every page.
    pub fn and_after(&mut self, cursor: &SeqCursor) {
        self.args.push(cursor.corp_id.clone().into());
        self.args.push(to_i64(cursor.seq).into());
        let (c, s) = (self.args.len() - 1, self.args.len());
        self.sql
            .push_str(&format!(" AND (corp_id, seq) > (?{c}, ?{s})"));
    }

    /// Runs the query and reads every row with `map`; `what` names it in errors.
    pub fn fetch<T>(
        self,
        conn: &Connection,
        what: &'static str,
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, StoreError> {
        select(
            conn,
            &self.sql,
            rusqlite::params_from_iter(self.args),
            what,
            map,
        )
    }
}
