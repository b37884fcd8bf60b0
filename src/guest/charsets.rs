//! Character sets and collations a database may be created with. PostgreSQL takes a server
//! encoding and a locale for LC_COLLATE/LC_CTYPE whose code set matches the encoding (C and
//! POSIX match every one); MariaDB a character set and a collation of that set.

use super::rules::Refused;

/// PostgreSQL's server encodings (`pg_wchar.h`), cleaned as PostgreSQL cleans them.
const PG_ENCODINGS: &[&str] = &[
    "sqlascii",
    "eucjp",
    "euccn",
    "euckr",
    "euctw",
    "eucjis2004",
    "utf8",
    "muleinternal",
    "latin1",
    "latin2",
    "latin3",
    "latin4",
    "latin5",
    "latin6",
    "latin7",
    "latin8",
    "latin9",
    "latin10",
    "win1256",
    "win1258",
    "win866",
    "win874",
    "koi8r",
    "win1251",
    "win1252",
    "iso88595",
    "iso88596",
    "iso88597",
    "iso88598",
    "win1250",
    "win1253",
    "win1254",
    "win1255",
    "win1257",
    "koi8u",
];

/// A name as PostgreSQL compares encodings: lower case, letters and digits only.
fn clean(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The PostgreSQL encoding name for `given` (e.g. `utf-8` → `UTF8`), if it is a server encoding.
pub fn pg_encoding(given: &str) -> Option<String> {
    let cleaned = match clean(given).as_str() {
        "unicode" => "utf8".to_string(),
        "iso88591" => "latin1".into(),
        "iso88592" => "latin2".into(),
        "iso885915" => "latin9".into(),
        other => other.to_string(),
    };
    PG_ENCODINGS
        .contains(&cleaned.as_str())
        .then(|| match cleaned.as_str() {
            "sqlascii" => "SQL_ASCII".to_string(),
            "iso88595" | "iso88596" | "iso88597" | "iso88598" => format!("ISO_8859_{}", &cleaned[7..]),
            other => other.to_ascii_uppercase(),
        })
}

fn is_c_locale(locale: &str) -> bool {
    matches!(locale, "C" | "POSIX")
}

/// The encoding a locale's code set names (`en_US.UTF-8` → `UTF8`), if it names one.
fn locale_encoding(locale: &str) -> Option<String> {
    let codeset = locale.split_once('.')?.1;
    let codeset = codeset.split('@').next().unwrap_or(codeset);
    pg_encoding(codeset)
}

fn plain_word(text: &str, max: usize, extra: &[char]) -> bool {
    !text.is_empty() && text.len() <= max && text.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
}

/// PostgreSQL: a known server encoding; a locale that is C/POSIX or whose code set is that
/// encoding (UTF8 when none is given, the instances' own), and that this host has.
pub fn check_postgres(charset: Option<&str>, collate: Option<&str>) -> Result<(), Refused> {
    let encoding = match charset {
        Some(c) => Some(pg_encoding(c).ok_or_else(|| Refused(format!("'{c}' is not a PostgreSQL server encoding.")))?),
        None => None,
    };
    let Some(locale) = collate else { return Ok(()) };
    if !plain_word(locale, 64, &['_', '.', '@', '-']) {
        return Err(Refused(format!("'{locale}' is not a locale name.")));
    }
    if is_c_locale(locale) {
        return Ok(());
    }
    let wanted = encoding.unwrap_or_else(|| "UTF8".into());
    match locale_encoding(locale) {
        Some(found) if found == wanted => {}
        _ => {
            return Err(Refused(format!(
                "The collation '{locale}' does not match the encoding {wanted}; name a locale of that code set (e.g. 'C.UTF-8' for UTF8) or 'C'."
            )))
        }
    }
    match locale_installed(locale) {
        true => Ok(()),
        false => Err(Refused(format!(
            "The locale '{locale}' is not available on the database host."
        ))),
    }
}

/// A locale name with its code set cleaned (`en_US.UTF-8` and `en_US.utf8` are one).
fn normal_locale(locale: &str) -> String {
    let (lang, rest) = locale.split_once('.').unwrap_or((locale, ""));
    format!("{lang}.{}", clean(rest))
}

/// This host's locales (`locale -a`), read once — at start (see `app::start`), so no request
/// runs the command.
pub fn load_installed_locales() -> &'static [String] {
    static INSTALLED: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    INSTALLED.get_or_init(|| {
        std::process::Command::new("locale")
            .arg("-a")
            .output()
            .map(|out| {
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .map(normal_locale)
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// Whether this host has `locale`; C.UTF-8 always is.
fn locale_installed(locale: &str) -> bool {
    let wanted = normal_locale(locale);
    wanted == "C.utf8" || load_installed_locales().contains(&wanted)
}

/// MariaDB: plain names, and a collation of the named character set.
pub fn check_mariadb(charset: Option<&str>, collate: Option<&str>) -> Result<(), Refused> {
    if let Some(c) = charset.filter(|c| !plain_word(c, 32, &['_'])) {
        return Err(Refused(format!("'{c}' is not a character set name.")));
    }
    if let Some(c) = collate.filter(|c| !plain_word(c, 64, &['_'])) {
        return Err(Refused(format!("'{c}' is not a collation name.")));
    }
    if let (Some(set), Some(collation)) = (charset, collate) {
        if !collation
            .to_ascii_lowercase()
            .starts_with(&format!("{}_", set.to_ascii_lowercase()))
        {
            return Err(Refused(format!(
                "The collation '{collation}' is not one of the character set '{set}'."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_takes_encodings_with_matching_locales() {
        assert_eq!(pg_encoding("utf-8").as_deref(), Some("UTF8"));
        assert_eq!(pg_encoding("latin1").as_deref(), Some("LATIN1"));
        assert_eq!(pg_encoding("ISO-8859-5").as_deref(), Some("ISO_8859_5"));
        assert_eq!(pg_encoding("klingon"), None);
        assert!(check_postgres(Some("UTF8"), Some("C.UTF-8")).is_ok());
        assert!(check_postgres(Some("LATIN1"), Some("C")).is_ok());
        assert!(check_postgres(Some("LATIN1"), None).is_ok());
        assert!(check_postgres(None, Some("C.utf8")).is_ok());
        assert!(
            check_postgres(Some("LATIN1"), Some("C.UTF-8")).is_err(),
            "mismatched code set"
        );
        assert!(check_postgres(Some("klingon"), None).is_err());
        assert!(check_postgres(None, Some("x'; DROP")).is_err());
        assert!(check_postgres(None, Some("zz_ZZ.UTF-8")).is_err(), "not installed");
        assert!(check_mariadb(Some("utf8mb4"), Some("utf8mb4_general_ci")).is_ok());
        assert!(check_mariadb(Some("latin1"), Some("utf8mb4_general_ci")).is_err());
        assert!(check_mariadb(Some("utf8'"), None).is_err());
    }
}
