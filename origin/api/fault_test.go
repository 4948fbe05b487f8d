package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"

	"edgeshop/origin/store"
)

// TestStoreFaultsAnswer503 checks the one place errors become answers:
// the store's transient failures (busy past WriteWait, disk or database
// full) are 503 JSON with Retry-After, never a 500; anything else
// unexpected stays a 500.
func TestStoreFaultsAnswer503(t *testing.T) {
	for _, tc := range []struct {
		err        error
		status     int
		code       string
		retryAfter string
	}{
		{fmt.Errorf("create user: %w", fmt.Errorf("%w: database is locked", store.ErrBusy)), 503, "database_busy", "1"},
		{fmt.Errorf("place order: %w", fmt.Errorf("%w: database or disk is full", store.ErrFull)), 503, "storage_full", "30"},
		{errors.New("something else"), 500, "internal", ""},
	} {
		w := httptest.NewRecorder()
		writeError(w, tc.err)
		var body struct{ Detail, Code string }
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%v: body %q is not JSON: %v", tc.err, w.Body, err)
		}
		if w.Code != tc.status || body.Code != tc.code || body.Detail == "" {
			t.Errorf("%v: %d %s, want %d with code %q", tc.err, w.Code, w.Body, tc.status, tc.code)
		}
		if got := w.Header().Get("Retry-After"); got != tc.retryAfter {
			t.Errorf("%v: Retry-After %q, want %q", tc.err, got, tc.retryAfter)
		}
		if got := w.Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("%v: Cache-Control %q", tc.err, got)
		}
		if ct := w.Header().Get("Content-Type"); ct != jsonType {
			t.Errorf("%v: Content-Type %q", tc.err, ct)
		}
	}
}
