package cache

import (
	"bytes"
	"testing"

	"github.com/valyala/fasthttp"
)

// keyOf is the key a client's request target and Host get.
func keyOf(t *testing.T, host, target string) []byte {
	t.Helper()
	var req fasthttp.Request
	req.SetRequestURI(target)
	req.Header.SetHost(host)
	s := &scratch{}
	if !s.readRequest(&req) {
		t.Fatalf("no key for %s %s", host, target)
	}
	return s.key
}

func TestKeyNormalisation(t *testing.T) {
	for _, tc := range []struct {
		name           string
		host1, target1 string
		host2, target2 string
		same           bool
	}{
		{"query order", "shop", "/p?b=2&a=1", "shop", "/p?a=1&b=2", true},
		{"repeated names keep their order", "shop", "/p?a=2&a=1", "shop", "/p?a=1&a=2", false},
		{"stable sort", "shop", "/p?b=1&a=2&a=1", "shop", "/p?a=2&a=1&b=1", true},
		{"empty parameters", "shop", "/p?a=1&&b=2&", "shop", "/p?b=2&a=1", true},
		{"empty query", "shop", "/p?", "shop", "/p", true},
		{"host case", "SHOP.example", "/p", "shop.example", "/p", true},
		{"default port", "shop.example:80", "/p", "shop.example", "/p", true},
		{"other port", "shop.example:8080", "/p", "shop.example", "/p", false},
		{"host", "a.example", "/p", "b.example", "/p", false},
		{"path case", "shop", "/P", "shop", "/p", false},
		{"path as sent", "shop", "/a/../p", "shop", "/p", false},
		{"encoded path", "shop", "/p%20q", "shop", "/p q", false},
		{"trailing slash", "shop", "/p/", "shop", "/p", false},
		{"values", "shop", "/p?a=1", "shop", "/p?a=2", false},
		{"name and value split", "shop", "/p?a=1", "shop", "/p?a%3D1", false},
		{"fragment ignored", "shop", "/p?a=1#x", "shop", "/p?a=1", true},
		{"absolute form", "ignored", "http://shop.example/p?b&a", "shop.example", "/p?a&b", true},
		{"host and path apart", "ab", "/c", "a", "b/c", false},
	} {
		k1, k2 := keyOf(t, tc.host1, tc.target1), keyOf(t, tc.host2, tc.target2)
		if bytes.Equal(k1, k2) != tc.same {
			t.Errorf("%s: %q vs %q: same=%v, want %v", tc.name, k1, k2, !tc.same, tc.same)
		}
	}
}

func TestSplitKey(t *testing.T) {
	var spans []span
	key := appendKey(nil, classGet, []byte("Shop.example:80"), []byte("/p"), []byte("z=1&a=2"), &spans)
	host, target, ok := splitKey(key)
	if !ok || string(host) != "shop.example" || string(target) != "/p?a=2&z=1" {
		t.Errorf("got %q %q %v", host, target, ok)
	}
	for _, bad := range []string{"", "G", "G\xff", "G\x09abc"} {
		if _, _, ok := splitKey([]byte(bad)); ok {
			t.Errorf("%q split", bad)
		}
	}
}

func TestParsePurgeURL(t *testing.T) {
	for _, tc := range []struct {
		in                string
		host, path, query string
		ok                bool
	}{
		{"http://shop.example/products/1?x=1", "shop.example", "/products/1", "x=1", true},
		{"HTTPS://Shop.example", "Shop.example", "/", "", true},
		{"http://shop.example?a=1", "shop.example", "/", "a=1", true},
		{"/products?b=2&a=1#frag", "", "/products", "b=2&a=1", true},
		{"products", "", "", "", false},
		{"ftp://x/y", "", "", "", false},
		{"http:///p", "", "", "", false},
		{"", "", "", "", false},
	} {
		host, path, query, ok := parsePurgeURL(tc.in)
		if ok != tc.ok || string(host) != tc.host || string(path) != tc.path || string(query) != tc.query {
			t.Errorf("%q: got %q %q %q %v", tc.in, host, path, query, ok)
		}
	}
}

func TestVaryValues(t *testing.T) {
	values := func(names string, fields ...string) []byte {
		var h fasthttp.RequestHeader
		for i := 0; i+1 < len(fields); i += 2 {
			h.Add(fields[i], fields[i+1])
		}
		var tmp []byte
		var spans []span
		return appendVaryValues(nil, []byte(names), &h, &tmp, &spans)
	}
	for _, tc := range []struct {
		name  string
		names string
		a, b  []string
		same  bool
	}{
		{"equal", "accept-encoding", []string{"Accept-Encoding", "gzip"}, []string{"Accept-Encoding", "gzip"}, true},
		{"differ", "accept-encoding", []string{"Accept-Encoding", "gzip"}, []string{"Accept-Encoding", "br"}, false},
		{"absent vs empty", "foo", nil, []string{"Foo", ""}, false},
		{"both absent", "foo", nil, nil, true},
		{"lines combined", "foo", []string{"Foo", "1", "Foo", "2"}, []string{"Foo", "1, 2"}, true},
		{"spaces", "foo", []string{"Foo", " 1 ,2 "}, []string{"Foo", "1, 2"}, true},
		{"order matters", "foo", []string{"Foo", "1, 2"}, []string{"Foo", "2, 1"}, false},
		{"case matters", "foo", []string{"Foo", "a"}, []string{"Foo", "A"}, false},
		{"language order and case", "accept-language", []string{"Accept-Language", "en-GB, fr;q=0.5"}, []string{"Accept-Language", "FR; q=0.5,en-gb"}, true},
		{"language weights", "accept-language", []string{"Accept-Language", "en;q=0.1, fr"}, []string{"Accept-Language", "en, fr;q=0.1"}, false},
		{"two names", "accept,foo", []string{"Accept", "a", "Foo", "b"}, []string{"Foo", "b", "Accept", "a"}, true},
		{"two names, one differs", "accept,foo", []string{"Accept", "a", "Foo", "b"}, []string{"Accept", "a", "Foo", "c"}, false},
		{"values not confused across names", "a,b", []string{"A", "x,y"}, []string{"A", "x", "B", "y"}, false},
	} {
		if got := bytes.Equal(values(tc.names, tc.a...), values(tc.names, tc.b...)); got != tc.same {
			t.Errorf("%s: same=%v, want %v", tc.name, got, tc.same)
		}
	}
}

func TestParseVary(t *testing.T) {
	for _, tc := range []struct {
		lines []string
		names string
		star  bool
	}{
		{[]string{"Accept-Encoding"}, "accept-encoding", false},
		{[]string{"User-Agent, accept-encoding", "Accept-Encoding"}, "accept-encoding,user-agent", false},
		{[]string{", *"}, "", true},
		{[]string{"Foo", "*"}, "foo", true},
		{[]string{" , "}, "", false},
	} {
		var lines [][]byte
		for _, l := range tc.lines {
			lines = append(lines, []byte(l))
		}
		var spans []span
		names, star := parseVary(nil, lines, &spans)
		if string(names) != tc.names || star != tc.star {
			t.Errorf("%q: got %q %v", tc.lines, names, star)
		}
	}
}
