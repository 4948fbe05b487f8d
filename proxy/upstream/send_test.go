package upstream

import "testing"

func TestBodiless(t *testing.T) {
	for _, tc := range []struct {
		req  string
		want bool
	}{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
		{"HEAD /x HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n", true},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi", false},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", false},
		{"DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n", false},
		// A GET with a body: framed, or its bytes already in p.
		{"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\ncontent-LENGTH: 2\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\nhi", false},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n\r\n\r\n", false},
		// Part of a header section: more is to come.
		{"GET / HTTP/1.1\r\nHost: a\r\n", false},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r", false},
		// A header whose value merely mentions the names.
		{"GET / HTTP/1.1\r\nHost: a\r\nX-Note: content-length: 3\r\n\r\n", true},
		{"", false},
	} {
		if got := bodiless([]byte(tc.req)); got != tc.want {
			t.Errorf("bodiless(%q) = %v, want %v", tc.req, got, tc.want)
		}
	}
}
