package load

import (
	"bytes"
	"testing"
)

func TestParseResponse(t *testing.T) {
	const all = -1
	cases := []struct {
		name string
		in   string
		want response // end 0: incomplete; all: the whole input
		bad  bool
	}{
		{name: "length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
			want: response{status: 200, end: all, body: 5}},
		{name: "length, body still coming", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
			want: response{status: 200}},
		{name: "head still coming", in: "HTTP/1.1 200 OK\r\nContent-Len",
			want: response{}},
		{name: "no reason phrase, names in any case", in: "HTTP/1.1 404\r\ncontent-LENGTH:2\r\nCONNECTION: keep-alive, Close\r\n\r\nno",
			want: response{status: 404, end: all, body: 2, close: true}},
		{name: "chunked with extension and trailer",
			in:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nabcd\r\n2\r\nef\r\n0\r\nX-T: 1\r\n\r\n",
			want: response{status: 200, end: all, body: 6}},
		{name: "chunked, last chunk still coming",
			in:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n",
			want: response{status: 200, body: 4}},
		{name: "chunked overrides length",
			in:   "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
			want: response{status: 200, end: all}},
		{name: "no body on 304", in: "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
			want: response{status: 304, end: all}},
		{name: "no framing", in: "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody", bad: true},
		{name: "two lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", bad: true},
		{name: "negative length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", bad: true},
		{name: "not HTTP", in: "SSH-2.0-OpenSSH\r\n\r\n", bad: true},
		{name: "status not a number", in: "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", bad: true},
		{name: "interim response", in: "HTTP/1.1 100 Continue\r\n\r\n", bad: true},
		{name: "field without colon", in: "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", bad: true},
		{name: "bad chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", bad: true},
		{name: "chunk without its CRLF", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n", bad: true},
	}
	for _, c := range cases {
		if c.want.end == all {
			c.want.end = len(c.in)
		}
		got, err := parseResponse([]byte(c.in))
		if c.bad {
			if err == nil {
				t.Errorf("%s: accepted as %+v", c.name, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
}

// FuzzParseResponse: no input panics; a complete response ends within what
// was read, parses the same alone, and no shorter part of it is taken for
// a whole response.
func FuzzParseResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\nT: 1\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseResponse(b)
		if err != nil || r.end == 0 {
			return
		}
		if r.end > len(b) || r.body > r.end || r.status < 200 || r.status > 999 {
			t.Fatalf("%q: %+v", b, r)
		}
		again, err := parseResponse(b[:r.end])
		if err != nil || again != r {
			t.Fatalf("%q alone: %+v, %v; with what follows: %+v", b[:r.end], again, err, r)
		}
		for k := range r.end {
			if p, err := parseResponse(b[:k]); err == nil && p.end != 0 {
				t.Fatalf("%q: its first %d bytes taken for a response: %+v", b, k, p)
			}
		}
		if !bytes.HasPrefix(b, []byte("HTTP/1.")) {
			t.Fatalf("%q accepted", b)
		}
	})
}
