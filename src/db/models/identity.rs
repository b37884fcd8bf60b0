//! Projects, users, role assignments and tokens: the rows behind coffer's Keystone subset.

use crate::db::schema::{projects, role_assignments, tokens, users};
use crate::db::{now_ms, DbConn, DbError};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = projects)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub enabled: bool,
    pub created: i64,
}

#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub password_hash: String,
    pub enabled: bool,
    pub created: i64,
}

impl std::fmt::Debug for User {
    // Never print the hash.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish()
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = tokens)]
pub struct TokenRow {
    pub token_hash: String,
    pub user_id: String,
    pub project_id: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

impl Project {
    pub fn create(conn: &mut DbConn, name: &str, domain_id: &str) -> Result<Project, DbError> {
        let project = Project {
            id: uuid::Uuid::new_v4().simple().to_string(),
            name: name.to_string(),
            domain_id: domain_id.to_string(),
            enabled: true,
            created: now_ms(),
        };
        diesel::insert_into(projects::table).values(&project).execute(conn)?;
        Ok(project)
    }

    /// By id, or by name within a domain.
    pub fn find(
        conn: &mut DbConn,
        id: Option<&str>,
        name: Option<&str>,
        domain_id: &str,
    ) -> Result<Option<Project>, DbError> {
        let query = projects::table.select(Project::as_select()).into_boxed();
        let query = match (id, name) {
            (Some(id), _) => query.filter(projects::id.eq(id.to_string())),
            (None, Some(name)) => query
                .filter(projects::name.eq(name.to_string()))
                .filter(projects::domain_id.eq(domain_id.to_string())),
            (None, None) => return Ok(None),
        };
        Ok(query.first(conn).optional()?)
    }
}

impl User {
    pub fn create(conn: &mut DbConn, name: &str, domain_id: &str, password_hash: &str) -> Result<User, DbError> {
        let user = User {
            id: uuid::Uuid::new_v4().simple().to_string(),
            name: name.to_string(),
            domain_id: domain_id.to_string(),
            password_hash: password_hash.to_string(),
            enabled: true,
            created: now_ms(),
        };
        diesel::insert_into(users::table).values(&user).execute(conn)?;
        Ok(user)
    }

    /// By id, or by name within a domain.
    pub fn find(
        conn: &mut DbConn,
        id: Option<&str>,
        name: Option<&str>,
        domain_id: &str,
    ) -> Result<Option<User>, DbError> {
        let query = users::table.select(User::as_select()).into_boxed();
        let query = match (id, name) {
            (Some(id), _) => query.filter(users::id.eq(id.to_string())),
            (None, Some(name)) => query
                .filter(users::name.eq(name.to_string()))
                .filter(users::domain_id.eq(domain_id.to_string())),
            (None, None) => return Ok(None),
        };
        Ok(query.first(conn).optional()?)
    }

    pub fn find_by_id(conn: &mut DbConn, id: &str) -> Result<Option<User>, DbError> {
        Ok(users::table.find(id).select(User::as_select()).first(conn).optional()?)
    }
}

/// Grants `role` on `project` to `user` (granting twice is harmless).
pub fn assign_role(conn: &mut DbConn, user_id: &str, project_id: &str, role: &str) -> Result<(), DbError> {
    let exists: i64 = role_assignments::table
        .filter(role_assignments::user_id.eq(user_id))
        .filter(role_assignments::project_id.eq(project_id))
        .filter(role_assignments::role.eq(role))
        .count()
        .get_result(conn)?;
    if exists == 0 {
        diesel::insert_into(role_assignments::table)
            .values((
                role_assignments::user_id.eq(user_id),
                role_assignments::project_id.eq(project_id),
                role_assignments::role.eq(role),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The roles `user` has on `project`.
pub fn roles_of(conn: &mut DbConn, user_id: &str, project_id: &str) -> Result<Vec<String>, DbError> {
    Ok(role_assignments::table
        .filter(role_assignments::user_id.eq(user_id))
        .filter(role_assignments::project_id.eq(project_id))
        .select(role_assignments::role)
        .order(role_assignments::role)
        .load(conn)?)
}

impl TokenRow {
    pub fn insert(&self, conn: &mut DbConn) -> Result<(), DbError> {
        diesel::insert_into(tokens::table).values(self).execute(conn)?;
        Ok(())
    }

    /// A token that has not expired, by its hash.
    pub fn find_valid(conn: &mut DbConn, token_hash: &str) -> Result<Option<TokenRow>, DbError> {
        Ok(tokens::table
            .find(token_hash)
            .filter(tokens::expires_at.gt(now_ms()))
            .select(TokenRow::as_select())
            .first(conn)
            .optional()?)
    }

    /// Deletes a valid token; false when there was none.
    pub fn delete(conn: &mut DbConn, token_hash: &str) -> Result<bool, DbError> {
        let n = diesel::delete(
            tokens::table
                .filter(tokens::token_hash.eq(token_hash))
                .filter(tokens::expires_at.gt(now_ms())),
        )
        .execute(conn)?;
        Ok(n > 0)
    }

    /// Forgets expired tokens.
    pub fn purge_expired(conn: &mut DbConn) -> Result<usize, DbError> {
        Ok(diesel::delete(tokens::table.filter(tokens::expires_at.le(now_ms()))).execute(conn)?)
    }
}
