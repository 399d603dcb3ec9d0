// Package apitest holds the end-to-end tests of the GraphQL API: each test
// starts the real handler on SQLite and on PostgreSQL and speaks GraphQL to
// it over HTTP.
package apitest
