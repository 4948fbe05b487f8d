package upstream

import (
	"bytes"
	"strings"
	"testing"
)

func TestRewriteHead(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// Left as they are.
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", ""},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", ""},
		{"HTTP/1.1 200 OK\r\ntransfer-encoding: CHUNKED\r\n\r\n", ""},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", ""},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", ""},
		{"HTTP/1.1 200 OK\r\nX-Transfer-Encoding: foo\r\n\r\n", ""},
		// Read until close.
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: foo\r\nX-A: 1\r\n\r\n",
			"HTTP/1.1 200 OK\r\nConnection: close\r\nX-A: 1\r\n\r\n"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 5\r\ntransfer-encoding:chunked, gzip\r\n\r\n",
			"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x;q=1\r\nCache-Control: max-age=1\r\n\r\n",
			"HTTP/1.1 200 OK\r\nConnection: close\r\nCache-Control: max-age=1\r\n\r\n"},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\n\r\n",
			"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"},
	} {
		b := []byte(tc.in)
		n := rewriteHead(b)
		want := tc.want
		if want == "" {
			want = tc.in
		}
		if got := string(b[:n]); got != want {
			t.Errorf("rewriteHead(%q) = %q, want %q", tc.in, got, want)
		}
	}
}

func TestInformational(t *testing.T) {
	if !informational([]byte("HTTP/1.1 103 Early Hints\r\n\r\n")) || informational([]byte("HTTP/1.1 200 OK\r\n\r\n")) ||
		informational([]byte("HTTP/1.1 101 Switching Protocols\r\n\r\n")) {
		t.Fatal("informational is wrong")
	}
}

// FuzzRewriteHead: whatever the origin sends, the rewrite never grows the
// section, never panics, leaves a section without Transfer-Encoding as it
// was, and leaves none behind when it rewrites.
func FuzzRewriteHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: foo\r\nContent-Length: 3\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\ntransfer-encoding:x\n\n",
		"HTTP/1.1 100 Continue\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		b := bytes.Clone(in)
		n := rewriteHead(b)
		if n > len(in) || n < 0 {
			t.Fatalf("length %d from %d", n, len(in))
		}
		lower := strings.ToLower(string(in))
		if !strings.Contains(lower, "transfer-encoding") && !bytes.Equal(b[:n], in) {
			t.Fatalf("changed a section without Transfer-Encoding: %q → %q", in, b[:n])
		}
		if n < len(in) {
			for line := range headLines(b[:n]) {
				if _, te := fieldValue(line, "transfer-encoding"); te {
					t.Fatalf("rewritten section %q still frames with %q", b[:n], line)
				}
				if _, cl := fieldValue(line, "content-length"); cl {
					t.Fatalf("rewritten section %q still has %q", b[:n], line)
				}
			}
		}
	})
}
