package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/entitled/entitled/internal/apperr"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 2 << 20

// MaxResponseBytes bounds a response body; a larger answer fails the
// request with a typed error instead of streaming it.
const MaxResponseBytes = 16 << 20

// transport is a strict GraphQL-over-HTTP transport: POST with a JSON body
// (a single operation) and GET for queries. Unlike gqlgen's stock POST it
// never echoes the request body into errors, and every failure carries a
// typed error code.
type transport struct{}

var _ graphql.Transport = transport{}

func (transport) Supports(r *http.Request) bool {
	return r.Method == http.MethodPost || r.Method == http.MethodGet
}

func writeErrors(w http.ResponseWriter, status int, errs ...*gqlerror.Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := marshalJSON(&graphql.Response{Errors: errs})
	_, _ = w.Write(b)
}

func requestError(code apperr.Code, field, msg string) *gqlerror.Error {
	ext := map[string]any{"code": string(code)}
	if field != "" {
		ext["field"] = field
	}
	return &gqlerror.Error{Message: msg, Extensions: ext}
}

func (transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	params := &graphql.RawParams{Headers: r.Header}
	params.ReadTime.Start = graphql.Now()
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		params.Query, params.OperationName = q.Get("query"), q.Get("operationName")
		for _, p := range []struct {
			name string
			dst  *map[string]any
		}{{"variables", &params.Variables}, {"extensions", &params.Extensions}} {
			if raw := q.Get(p.name); raw != "" {
				if err := decodeStrict([]byte(raw), p.dst); err != nil {
					writeErrors(w, http.StatusBadRequest, requestError(apperr.BadUserInput, p.name, p.name+" must be a JSON object"))
					return
				}
			}
		}
	} else {
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "" && mt != "application/json" && mt != "application/graphql-response+json" {
			writeErrors(w, http.StatusUnsupportedMediaType, requestError(apperr.BadUserInput, "", "Content-Type must be application/json"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			writeErrors(w, http.StatusRequestEntityTooLarge, requestError(apperr.BadUserInput, "", "request body is larger than 2 MiB"))
			return
		case err != nil:
			writeErrors(w, http.StatusBadRequest, requestError(apperr.BadUserInput, "", "could not read the request body"))
			return
		case len(bytes.TrimSpace(body)) == 0:
			writeErrors(w, http.StatusBadRequest, requestError(apperr.BadUserInput, "", `request body is empty; send {"query": "..."}`))
			return
		case bytes.TrimSpace(body)[0] == '[':
			writeErrors(w, http.StatusBadRequest, requestError(apperr.BadUserInput, "", "batched requests are not supported; send one operation per request"))
			return
		}
		var p struct {
			Query         string         `json:"query"`
			OperationName string         `json:"operationName"`
			Variables     map[string]any `json:"variables"`
			Extensions    map[string]any `json:"extensions"`
		}
		if err := decodeStrict(body, &p); err != nil {
			msg := "request body is not valid JSON of the form {\"query\": string, \"variables\": object}"
			if strings.Contains(err.Error(), "exceeded max depth") {
				msg = fmt.Sprintf("request body is nested too deeply; variables may nest at most %d levels", MaxInputDepth)
			}
			writeErrors(w, http.StatusBadRequest, requestError(apperr.BadUserInput, "", msg))
			return
		}
		params.Query, params.OperationName, params.Variables, params.Extensions = p.Query, p.OperationName, p.Variables, p.Extensions
	}
	params.ReadTime.End = graphql.Now()
	if err := plainNumbers(params.Variables); err != nil {
		writeErrors(w, http.StatusBadRequest, requestError(apperr.BadUserInput, "variables", err.Error()))
		return
	}
	if params.Query == "" {
		writeErrors(w, http.StatusBadRequest, requestError(apperr.BadUserInput, "query", "query must not be empty"))
		return
	}

	ctx := graphql.StartOperationTrace(r.Context())
	rc, opErr := exec.CreateOperationContext(ctx, params)
	if opErr != nil {
		// The document did not parse, validate or coerce: no execution.
		// GraphQL over HTTP: 200 for application/json clients, 400 and no
		// data entry for application/graphql-response+json ones.
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, rc), opErr)
		if wantsGraphQLResponse(r) {
			writeRequestError(w, http.StatusBadRequest, resp)
			return
		}
		writeResponse(w, r, http.StatusOK, resp)
		return
	}
	if r.Method == http.MethodGet {
		if op := rc.Doc.Operations.ForName(rc.OperationName); op == nil || op.Operation != ast.Query {
			writeErrors(w, http.StatusMethodNotAllowed, requestError(apperr.BadUserInput, "", "GET allows queries only; send mutations with POST"))
			return
		}
	}
	responses, ctx := exec.DispatchOperation(ctx, rc)
	resp := responses(ctx)
	status := http.StatusOK
	if unanswered(resp) {
		// Nothing could be answered and the server says why: tell HTTP
		// clients and proxies to come back rather than treat it as data.
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	writeResponse(w, r, status, resp)
}

// retryAfterSeconds is the Retry-After of an UNAVAILABLE answer.
const retryAfterSeconds = "1"

// unanswered reports whether a response answers nothing (its data is null,
// or every root field is null) because of an UNAVAILABLE error.
func unanswered(resp *graphql.Response) bool {
	unavailable := false
	for _, e := range resp.Errors {
		if code, _ := e.Extensions["code"].(string); code == string(apperr.Unavailable) {
			unavailable = true
			break
		}
	}
	if !unavailable {
		return false
	}
	data := bytes.TrimSpace(resp.Data)
	if len(data) == 0 || string(data) == "null" {
		return true
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(data, &fields) != nil {
		return false
	}
	for _, v := range fields {
		if string(bytes.TrimSpace(v)) != "null" {
			return false
		}
	}
	return true
}

// graphQLResponseType is the media type of GraphQL over HTTP.
const graphQLResponseType = "application/graphql-response+json"

// wantsGraphQLResponse reports whether the client asks for
// application/graphql-response+json before (or instead of)
// application/json.
func wantsGraphQLResponse(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
		switch mt {
		case graphQLResponseType:
			return true
		case "application/json", "*/*", "application/*":
			return false
		}
	}
	return false
}

// writeRequestError answers a request that was not executed, in the
// graphql-response+json form: errors only, no data entry.
func writeRequestError(w http.ResponseWriter, status int, resp *graphql.Response) {
	b, err := marshalJSON(struct {
		Errors     any            `json:"errors"`
		Extensions map[string]any `json:"extensions,omitempty"`
	}{resp.Errors, resp.Extensions})
	if err != nil {
		writeErrors(w, http.StatusInternalServerError, requestError(apperr.Internal, "", "internal error"))
		return
	}
	w.Header().Set("Content-Type", graphQLResponseType)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeResponse(w http.ResponseWriter, r *http.Request, status int, resp *graphql.Response) {
	b, err := marshalJSON(resp)
	if err != nil {
		writeErrors(w, http.StatusInternalServerError, requestError(apperr.Internal, "", "internal error"))
		return
	}
	if len(b) > MaxResponseBytes {
		writeErrors(w, http.StatusOK, requestError(apperr.BadUserInput, "query",
			fmt.Sprintf("the answer is %d bytes, more than the limit of %d; ask for fewer objects or smaller pages", len(b), MaxResponseBytes)))
		return
	}
	if wantsGraphQLResponse(r) {
		w.Header().Set("Content-Type", graphQLResponseType)
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// marshalJSON encodes a response as it is: messages such as "usage + 1 >=
// cap" reach the client with their < > & unescaped (encoding/json would
// write \u003e, which every JSON parser reads back but people do not).
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// decodeStrict decodes one JSON value with numbers kept exact.
func decodeStrict(b []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// plainNumbers replaces the json.Numbers decodeStrict leaves in variables
// with int64 (integers that fit) or float64, in place. Left as json.Number
// (a string type), a number would pass GraphQL's coercion to String. It
// also refuses variables nested more than MaxInputDepth levels or with a
// list longer than MaxInputList, before anything walks them again.
func plainNumbers(v any) error {
	var conv func(x any, depth int) (any, error)
	conv = func(x any, depth int) (any, error) {
		if depth > MaxInputDepth {
			return nil, fmt.Errorf("variables are nested more than %d levels deep", MaxInputDepth)
		}
		switch t := x.(type) {
		case json.Number:
			if i, err := t.Int64(); err == nil {
				return i, nil
			}
			f, err := t.Float64()
			if err != nil || math.IsInf(f, 0) {
				return nil, fmt.Errorf("variables: the number %.40s is out of range", t)
			}
			return f, nil
		case map[string]any:
			for k, e := range t {
				c, err := conv(e, depth+1)
				if err != nil {
					return nil, err
				}
				t[k] = c
			}
		case []any:
			if len(t) > MaxInputList {
				return nil, fmt.Errorf("variables hold a list of %d items; at most %d allowed", len(t), MaxInputList)
			}
			for i, e := range t {
				c, err := conv(e, depth+1)
				if err != nil {
					return nil, err
				}
				t[i] = c
			}
		}
		return x, nil
	}
	if m, ok := v.(map[string]any); ok && m != nil {
		_, err := conv(m, 0)
		return err
	}
	return nil
}
