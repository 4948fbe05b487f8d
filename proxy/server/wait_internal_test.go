package server

import (
	"runtime"
	"testing"
	"time"
)

// singleP follows GOMAXPROCS, read again once a second has passed.
func TestSingleP(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	base := deadlineOffset(time.Now())
	procs.at.Store(0)
	if !singleP(base) {
		t.Fatal("GOMAXPROCS 1: singleP false")
	}
	runtime.GOMAXPROCS(2)
	if !singleP(base + 500*time.Millisecond) {
		t.Fatal("read again within the second")
	}
	if singleP(base + 1500*time.Millisecond) {
		t.Fatal("GOMAXPROCS 2, a second later: singleP still true")
	}
	runtime.GOMAXPROCS(1)
	if !singleP(base) { // a clock that went back reads again
		t.Fatal("GOMAXPROCS 1 again, clock earlier: singleP false")
	}
}

func TestWholeResponse(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    string
		want bool
	}{
		{"whole", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nDate: x\r\n\r\nhello", true},
		{"empty body", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", true},
		{"part of the body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", false},
		{"HEAD answer", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false},
		{"two answers", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb", false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", false},
		{"100 Continue", "HTTP/1.1 100 Continue\r\n\r\n", false},
		{"header section cut", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", false},
		{"body, not a response", "hello", false},
		{"length in the body only", "HTTP/1.1 200 OK\r\nX: y\r\n\r\n\r\nContent-Length: 0", false},
		{"length too long", "HTTP/1.1 200 OK\r\nContent-Length: 1234567890\r\n\r\n", false},
		{"no digits", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", false},
	} {
		if got := wholeResponse([]byte(tc.b)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
