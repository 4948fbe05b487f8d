package cache

import (
	"testing"
)

func TestParseCacheControl(t *testing.T) {
	base := func(edit func(*directives)) directives {
		var d directives
		d.reset()
		edit(&d)
		return d
	}
	for _, tc := range []struct {
		in   string
		want directives
	}{
		{"", base(func(d *directives) {})},
		{"max-age=60", base(func(d *directives) { d.maxAge = 60 })},
		{"MaX-AgE=60", base(func(d *directives) { d.maxAge = 60 })},
		{"max-age=003600", base(func(d *directives) { d.maxAge = 3600 })},
		{`max-age="3600"`, base(func(d *directives) { d.maxAge = 3600 })},
		// Invalid values make the response stale, never fresher.
		{"max-age=-1", base(func(d *directives) { d.maxAge = 0 })},
		{"max-age='3600'", base(func(d *directives) { d.maxAge = 0 })},
		{"max-age=3600.5", base(func(d *directives) { d.maxAge = 0 })},
		{"max-age=100a", base(func(d *directives) { d.maxAge = 0 })},
		{"max-age =100", base(func(d *directives) { d.maxAge = 0 })},
		{"max-age", base(func(d *directives) { d.maxAge = 0 })},
		{"max-age=99999999999", base(func(d *directives) { d.maxAge = maxDelta })},
		// The first occurrence counts.
		{"max-age=10, max-age=20", base(func(d *directives) { d.maxAge = 10 })},
		// Quoted strings hide commas and directives.
		{`extension="max-age=3600", max-age=1`, base(func(d *directives) { d.maxAge = 1 })},
		{`max-age=1, extension="a, max-age=3600"`, base(func(d *directives) { d.maxAge = 1 })},
		{`ext="\"quoted, max-age=5\"", no-store`, base(func(d *directives) { d.noStore = true })},
		{"public, max-age=0, s-maxage=60, stale-while-revalidate=30, stale-if-error=300", base(func(d *directives) {
			d.public, d.maxAge, d.sMaxAge, d.staleWhileRevalidate, d.staleIfError = true, 0, 60, 30, 300
		})},
		{"private, no-store", base(func(d *directives) { d.private, d.noStore = true, true })},
		{`no-cache="Set-Cookie", private="X"`, base(func(d *directives) { d.noCache, d.private = true, true })},
		{" , ,no-cache,,  must-revalidate ,proxy-revalidate", base(func(d *directives) {
			d.noCache, d.mustRevalidate, d.proxyRevalidate = true, true, true
		})},
		{"max-stale", base(func(d *directives) { d.maxStaleAny = true })},
		{"max-stale=5, min-fresh=7, only-if-cached", base(func(d *directives) { d.maxStale, d.minFresh, d.onlyIfCached = 5, 7, true })},
		{"stale-while-revalidate=abc, must-understand, immutable", base(func(d *directives) { d.mustUnderstand, d.immutable = true, true })},
		{`unterminated="max-age=5`, base(func(d *directives) {})},
	} {
		if got := parseCacheControl([]byte(tc.in)); got != tc.want {
			t.Errorf("%q:\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
}

// Several field lines add up (RFC 9110 §5.3).
func TestParseCacheControlLines(t *testing.T) {
	d := parseCacheControl([]byte("max-age=60"))
	d.parse([]byte("s-maxage=10, public"))
	if d.maxAge != 60 || d.sMaxAge != 10 || !d.public {
		t.Errorf("got %+v", d)
	}
}

func TestParseDelta(t *testing.T) {
	for _, tc := range []struct {
		in string
		n  int64
		ok bool
	}{
		{"0", 0, true}, {"42", 42, true}, {"2147483648", maxDelta, true},
		{"2147483649", maxDelta, true}, {"99999999999999999999999", maxDelta, true},
		{"", 0, false}, {"-1", 0, false}, {"1.0", 0, false}, {" 1", 0, false},
	} {
		if n, ok := parseDelta([]byte(tc.in)); n != tc.n || ok != tc.ok {
			t.Errorf("%q: got %d %v, want %d %v", tc.in, n, ok, tc.n, tc.ok)
		}
	}
}
