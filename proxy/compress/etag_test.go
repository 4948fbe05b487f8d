package compress

import "testing"

func TestAppendTag(t *testing.T) {
	for _, tc := range []struct {
		etag string
		c    Coding
		want string
		ok   bool
	}{
		{`"abc"`, Brotli, `"abc-br"`, true},
		{`W/"abc"`, Gzip, `W/"abc-gzip"`, true},
		{`""`, Brotli, `"-br"`, true},
		{`abc`, Brotli, "", false},
		{`"abc`, Gzip, "", false},
		{`W/`, Gzip, "", false},
	} {
		got, ok := appendTag(nil, []byte(tc.etag), tc.c)
		if ok != tc.ok || string(got) != tc.want {
			t.Errorf("%s %v: %q %v, want %q %v", tc.etag, tc.c, got, ok, tc.want, tc.ok)
		}
	}
}

func TestAppendOriginTags(t *testing.T) {
	for _, tc := range []struct {
		list    string
		c       Coding
		want    string
		changed bool
	}{
		{`"abc-br"`, Brotli, `"abc"`, true},
		{`W/"abc-br", "x", *`, Brotli, `W/"abc", "x", *`, true},
		{`"abc-gzip"`, Brotli, `"abc-gzip"`, false},
		{`"abc-br"`, Gzip, `"abc-br"`, false},
		{`"a,b-gzip" ,"c"`, Gzip, `"a,b", "c"`, true},
		{`"-br"`, Brotli, `""`, true},
		{`"br"`, Brotli, `"br"`, false},
		{`junk-br, "ok-br"`, Brotli, `junk-br, "ok"`, true},
		{``, Brotli, ``, false},
	} {
		got, changed := appendOriginTags(nil, []byte(tc.list), tc.c)
		if string(got) != tc.want || changed != tc.changed {
			t.Errorf("%s %v: %s %v, want %s %v", tc.list, tc.c, got, changed, tc.want, tc.changed)
		}
	}
}

func TestEncodedMatch(t *testing.T) {
	for _, tc := range []struct {
		list, etag string
		want       bool
	}{
		{`"abc-br"`, `"abc"`, true},
		{`W/"abc-br"`, `"abc"`, true},
		{`"abc"`, `"abc"`, false},          // the client has the identity one
		{`"abc", "abc-br"`, `"abc"`, true}, // both: the encoded one
		{`"other-br"`, `"abc"`, true},      // no tag of the list is the 304's: it is about what would be sent
		{`*`, `"abc"`, true},
	} {
		if got := encodedMatch([]byte(tc.list), []byte(tc.etag), Brotli); got != tc.want {
			t.Errorf("%s / %s: %v, want %v", tc.list, tc.etag, got, tc.want)
		}
	}
}

func TestCompressible(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/json": true, "application/json; charset=utf-8": true, "Application/JSON": true,
		"text/html": true, "text/css": true, "text/plain;charset=utf-8": true, "text/event-stream": false,
		"application/javascript": true, "application/problem+json": true, "application/atom+xml": true,
		"image/svg+xml": true, "image/png": false, "image/jpeg": false, "image/webp": false,
		"application/zip": false, "application/gzip": false, "application/octet-stream": false,
		"font/woff2": false, "video/mp4": false, "": false, "json": false, "application/+json": false,
	} {
		if got := compressible([]byte(ct)); got != want {
			t.Errorf("%q: %v, want %v", ct, got, want)
		}
	}
}
