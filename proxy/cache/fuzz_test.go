package cache

import (
	"bytes"
	"strings"
	"testing"
)

// Seeds beyond these live in testdata/fuzz/FuzzParseCacheControl.
func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{
		"public, max-age=0, s-maxage=60, stale-while-revalidate=30, stale-if-error=300",
		"private, no-store",
		`no-cache="Set-Cookie, X", max-age="10"`,
		`ext="\"a,b\"", max-age=1`,
		"max-age=99999999999999999999",
		`unterminated="`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		d := parseCacheControl(v)
		for _, n := range []int64{d.maxAge, d.sMaxAge, d.maxStale, d.minFresh, d.staleWhileRevalidate, d.staleIfError} {
			if n != absent && (n < 0 || n > maxDelta) {
				t.Fatalf("%q: argument %d out of range: %+v", v, n, d)
			}
		}
		if d2 := parseCacheControl(v); d2 != d {
			t.Fatalf("%q: parsed twice differently", v)
		}
		// Without quotes nothing can swallow a directive appended after
		// a comma, nor change what came before.
		if bytes.IndexByte(v, '"') < 0 {
			more := parseCacheControl(append(append([]byte(nil), v...), ",no-store,max-age=7"...))
			if !more.noStore {
				t.Fatalf("%q: directive after a comma lost", v)
			}
			if d.maxAge != absent && more.maxAge != d.maxAge {
				t.Fatalf("%q: max-age changed from %d to %d by a later one", v, d.maxAge, more.maxAge)
			}
		}
	})
}

// Seeds beyond these live in testdata/fuzz/FuzzKey.
func FuzzKey(f *testing.F) {
	f.Add("Shop.Example:80", "/products/1", "b=2&a=1&a=0")
	f.Add("[::1]:80", "/", "")
	f.Add("", "", "&&=&")
	f.Add("a", "b/c", "x")
	f.Fuzz(func(t *testing.T, host, path, query string) {
		var spans []span
		key := appendKey(nil, classGet, []byte(host), []byte(path), []byte(query), &spans)
		h, target, ok := splitKey(key)
		if !ok {
			t.Fatalf("key %q does not split", key)
		}
		wantHost := []byte(strings.TrimSuffix(host, ":80"))
		for i, c := range wantHost {
			if 'A' <= c && c <= 'Z' {
				wantHost[i] = c + 'a' - 'A'
			}
		}
		if !bytes.Equal(h, wantHost) {
			t.Fatalf("host %q, want %q", h, wantHost)
		}
		if !bytes.HasPrefix(target, []byte(path)) {
			t.Fatalf("target %q lost path %q", target, path)
		}
		sorted := target[len(path):]
		if len(sorted) > 0 && sorted[0] != '?' {
			t.Fatalf("target %q: query not after '?'", target)
		}
		// Sorting is idempotent, and the key does not depend on the
		// order of differently named parameters.
		again := appendKey(nil, classGet, []byte(host), []byte(path), bytes.TrimPrefix(sorted, []byte("?")), &spans)
		if !bytes.Equal(again, key) {
			t.Fatalf("re-sorting changed the key: %q vs %q", again, key)
		}
		params := strings.Split(query, "&")
		for i, j := 0, len(params)-1; i < j; i, j = i+1, j-1 {
			params[i], params[j] = params[j], params[i]
		}
		names := map[string]bool{}
		distinct := true
		for _, p := range params {
			n, _, _ := strings.Cut(p, "=")
			if names[n] {
				distinct = false
			}
			names[n] = true
		}
		reversed := appendKey(nil, classGet, []byte(host), []byte(path), []byte(strings.Join(params, "&")), &spans)
		if distinct && !bytes.Equal(reversed, key) {
			t.Fatalf("parameter order changed the key: %q vs %q", reversed, key)
		}
	})
}
