// Package sqlaudit checks SQL statements for what distributed PostgreSQL
// (Citus, distributed by organization) needs of them: every statement on a
// tenant table names its organization with an equality (or inserts it),
// and tables are joined on the organization too. Tests record the
// statements a server sends (Recorder) and Check them; the statements that
// legitimately span organizations are in one Allowlist, each with its
// reason.
//
// It reads statements with a tokenizer, not a parser: it finds the tables
// a statement names (after FROM, JOIN, UPDATE, INTO, COPY), their aliases,
// and the comparisons "[alias.]organization_id = parameter | literal |
// [alias.]organization_id". Its limits are documented on Check.
package sqlaudit

import (
	"strings"
)

type kind int

const (
	word   kind = iota // an unquoted word, lower-cased
	quoted             // a "quoted identifier"
	str                // a 'string literal'
	number
	param // $1 or ?
	punct // one of ( ) , . ; or an operator
)

type token struct {
	k kind
	s string
}

// ident reports whether t names something (a word or a quoted identifier).
func (t token) ident() bool { return t.k == word || t.k == quoted }

// is reports whether t is the unquoted word or the punctuation s.
func (t token) is(s string) bool { return (t.k == word || t.k == punct) && t.s == s }

// tokenize splits a statement into tokens, dropping comments and
// whitespace.
func tokenize(q string) []token {
	var out []token
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				i = len(q)
			} else {
				i += end + 4
			}
		case c == '"':
			j := i + 1
			var b strings.Builder
			for j < len(q) {
				if q[j] == '"' {
					if j+1 < len(q) && q[j+1] == '"' {
						b.WriteByte('"')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(q[j])
				j++
			}
			out = append(out, token{quoted, b.String()})
			i = j + 1
		case c == '\'':
			j := i + 1
			for j < len(q) {
				if q[j] == '\'' {
					if j+1 < len(q) && q[j+1] == '\'' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			out = append(out, token{str, "?"})
			i = j + 1
		case c == '$' && i+1 < len(q) && isDigit(q[i+1]):
			j := i + 1
			for j < len(q) && isDigit(q[j]) {
				j++
			}
			out = append(out, token{param, "?"})
			i = j
		case c == '?':
			out = append(out, token{param, "?"})
			i++
		case isDigit(c):
			j := i
			for j < len(q) && (isDigit(q[j]) || q[j] == '.' || q[j] == 'e' || q[j] == 'E') {
				j++
			}
			out = append(out, token{number, "?"})
			i = j
		case isWordByte(c):
			j := i
			for j < len(q) && (isWordByte(q[j]) || isDigit(q[j]) || q[j] == '$') {
				j++
			}
			out = append(out, token{word, strings.ToLower(q[i:j])})
			i = j
		case strings.IndexByte("(),.;[]", c) >= 0:
			out = append(out, token{punct, string(c)})
			i++
		default:
			// Operators: a run of operator characters is one token.
			j := i
			for j < len(q) && strings.IndexByte("=<>!~+-*/%^|&:@#", q[j]) >= 0 {
				j++
			}
			if j == i {
				j++
			}
			out = append(out, token{punct, q[i:j]})
			i = j
		}
	}
	return out
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// Normalize returns the statement's shape: words lower-cased, identifiers unquoted,
// parameters and literals as ?, single spaces, a list of placeholders in
// parentheses folded to one (so "IN ($1, $2)" and "IN ($1)" are the same
// statement), and repeated rows of a multi-row VALUES folded to one.
func Normalize(q string) string {
	return render(fold(tokenize(q)))
}

// fold collapses "( ? , ? , ... )" to "( ? )" and ", ( ? )" repeats.
func fold(ts []token) []token {
	var out []token
	for i := 0; i < len(ts); i++ {
		t := ts[i]
		if t.is("(") {
			j := i + 1
			n := 0
			for j+1 < len(ts) && (ts[j].k == param || ts[j].k == str || ts[j].k == number) && (ts[j+1].is(",") || ts[j+1].is(")")) {
				n++
				if ts[j+1].is(")") {
					break
				}
				j += 2
			}
			if n > 0 && j+1 < len(ts) && ts[j+1].is(")") {
				// A row of only placeholders: one "( ? )"; a repeat of
				// the previous one is dropped with its comma.
				if len(out) >= 4 && out[len(out)-1].is(",") && out[len(out)-2].is(")") && out[len(out)-3].k == param && out[len(out)-4].is("(") {
					out = out[:len(out)-1]
				} else {
					out = append(out, token{punct, "("}, token{param, "?"}, token{punct, ")"})
				}
				i = j + 1
				continue
			}
		}
		out = append(out, t)
	}
	return out
}

func render(ts []token) string {
	var b strings.Builder
	for i, t := range ts {
		if i > 0 && !t.is(".") && !t.is(",") && !t.is(")") && !ts[i-1].is(".") && !ts[i-1].is("(") {
			b.WriteByte(' ')
		}
		b.WriteString(t.s)
	}
	return b.String()
}
