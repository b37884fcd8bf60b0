//! Quoting names and values into SQL the datastore servers parse (for statements such as
//! CREATE ROLE or GRANT, which take no bind parameters).

/// A PostgreSQL identifier: double-quoted, inner quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A PostgreSQL string literal: single-quoted, inner quotes doubled (standard_conforming_strings
/// is on, so backslashes are literal).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A string in a PostgreSQL configuration file: single-quoted, with quotes doubled and
/// backslashes escaped (the file's lexer reads `\` as an escape).
pub fn quote_conf_literal(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// A MariaDB identifier: backquoted, inner backquotes doubled.
pub fn quote_mysql_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A MariaDB string literal: single-quoted, with quotes and backslashes escaped.
pub fn quote_mysql_literal(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_neutralizes_quotes() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_mysql_ident("a`b"), "`a``b`");
        assert_eq!(quote_mysql_literal("a'\\"), "'a''\\\\'");
    }
}
