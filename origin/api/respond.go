package api

import (
	"encoding/json"
	"errors"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"

	"edgeshop/origin/store"
)

const jsonType = "application/json; charset=utf-8"

// apiError is an error with its HTTP answer. Handlers return these; one
// place (writeError) turns them into responses.
type apiError struct {
	status  int
	code    string
	detail  string
	message string // the seed's {"message": …} where it had one
	fields  map[string][]string
	// retryAfter, when set, is the Retry-After header (seconds).
	retryAfter string
}

func (e *apiError) Error() string { return e.detail }

func errBadRequest(code, detail string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: code, detail: detail}
}

func errNotFound(detail string) *apiError {
	return &apiError{status: http.StatusNotFound, code: "not_found", detail: detail}
}

func errInternal() *apiError {
	return &apiError{status: http.StatusInternalServerError, code: "internal", detail: "internal error"}
}

// The store's transient failures: nothing was written, and the same
// request may succeed later (503 with Retry-After, never a 500).
var (
	errDatabaseBusy = &apiError{status: http.StatusServiceUnavailable, code: "database_busy",
		detail: "the database is busy, try again", retryAfter: "1"}
	errStorageFull = &apiError{status: http.StatusServiceUnavailable, code: "storage_full",
		detail: "storage is full, try again later", retryAfter: "30"}
)

func writeError(w http.ResponseWriter, err error) {
	var e *apiError
	switch {
	case errors.As(err, &e):
	case errors.Is(err, store.ErrBusy):
		e = errDatabaseBusy
	case errors.Is(err, store.ErrFull):
		e = errStorageFull
	default:
		e = errInternal()
	}
	body := struct {
		Detail  string              `json:"detail"`
		Code    string              `json:"code"`
		Message string              `json:"message,omitempty"`
		Fields  map[string][]string `json:"fields,omitempty"`
	}{e.detail, e.code, e.message, e.fields}
	h := w.Header()
	h.Set("Content-Type", jsonType)
	h.Set("Cache-Control", "no-store")
	h.Del("ETag")
	h.Del("Surrogate-Key")
	if e.retryAfter != "" {
		h.Set("Retry-After", e.retryAfter)
	}
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(body)
}

// writeJSON writes a private (user) JSON response: never stored by a cache.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", jsonType)
	h.Set("Cache-Control", "private, no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// cachePolicy is what the origin tells the edge about a catalogue response
// (architecture.md, "the cache protocol").
type cachePolicy struct {
	sMaxAge, staleWhileRevalidate, staleIfError int
}

func (c cachePolicy) header() string {
	return "public, max-age=0, s-maxage=" + strconv.Itoa(c.sMaxAge) +
		", stale-while-revalidate=" + strconv.Itoa(c.staleWhileRevalidate) +
		", stale-if-error=" + strconv.Itoa(c.staleIfError)
}

// writeCatalogue writes a shared-cacheable response with a strong ETag over
// the exact body, and answers 304 when If-None-Match names it.
func writeCatalogue(w http.ResponseWriter, r *http.Request, pol cachePolicy, keys []string, body []byte) {
	f := fnv.New64a()
	_, _ = f.Write(body)
	etag := `"` + strconv.FormatUint(f.Sum64(), 16) + `"`
	h := w.Header()
	h.Set("Cache-Control", pol.header())
	h.Set("ETag", etag)
	h.Set("Surrogate-Key", strings.Join(keys, " "))
	h.Set("Vary", "Accept-Encoding")
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatches(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", jsonType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// etagMatches implements If-None-Match's weak comparison (RFC 9110 §13.1.2):
// "*" matches, and W/"x" matches "x".
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
