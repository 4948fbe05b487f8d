package server_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/balance"
	"edgeshop/proxy/edge"
	"edgeshop/proxy/server"
)

// countingOrigin serves 200 "origin" on loopback and counts the requests
// that reach it.
func countingOrigin(t *testing.T) (url string, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		hits.Add(1)
		ctx.SetBodyString("origin")
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Serve(ctx, srv, ln, time.Second) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String(), hits
}

// edgeInFrontOf serves the real edge chain (server limits, Forwarder,
// balancer) in front of origin and returns its address.
func edgeInFrontOf(t *testing.T, origin string) string {
	t.Helper()
	origins, err := balance.New([]balance.Target{{URL: origin}}, balance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(origins.Close)
	h := edge.Chain(edge.NewForwarder(origins, 0, nil).Handle)
	addr, _ := start(t, server.New(h, server.Limits{ReadTimeout: time.Second}, nil), time.Second)
	return addr
}

// TestAmbiguousFramingIsRefusedAtTheEdge sends requests whose framing two
// HTTP implementations could read differently (the raw material of request
// smuggling, RFC 9112 §6.3, §11.2) and checks each gets 400 and that
// nothing reaches the origin.
func TestAmbiguousFramingIsRefusedAtTheEdge(t *testing.T) {
	origin, hits := countingOrigin(t)
	addr := edgeInFrontOf(t, origin)

	// The rig works: a well-framed request passes.
	if resp, body := exchange(t, addr, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"); resp.StatusCode != 200 || body != "origin" {
		t.Fatalf("well-framed request got %d %q", resp.StatusCode, body)
	}
	if resp, body := exchange(t, addr, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"); resp.StatusCode != 200 || body != "origin" {
		t.Fatalf("well-framed chunked request got %d %q", resp.StatusCode, body)
	}
	hits.Store(0)

	for _, tc := range []struct {
		name, request string
		want          int // 400 unless set
	}{
		{"Content-Length and Transfer-Encoding", // §6.3 item 3
			"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", 0},
		{"Transfer-Encoding and Content-Length",
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nG", 0},
		{"duplicate Content-Length", // §6.3 item 5
			"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 0},
		{"Content-Length list",
			"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!", 0},
		{"obsolete line folding", // §5.2
			"GET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n", 0},
		{"folded Transfer-Encoding",
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 5\r\n\r\nhello", 0},
		{"chunk size not hex", // §7.1
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 0},
		{"negative chunk size",
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", 0},
		{"chunk size with 0x",
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 0},
		{"chunk size overflowing",
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000005\r\nhello\r\n0\r\n\r\n", 0},
		{"chunk longer than its size",
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 0},
		// fasthttp would wait for CRLF CRLF after LF LF until the read
		// timeout (408), and accepts a bare LF ending the request line:
		// StrictLineEndings refuses both as the bytes arrive.
		{"bare LF line endings", // §2.2
			"GET / HTTP/1.1\nHost: a\n\n", 0},
		{"bare LF ending the request line",
			"GET / HTTP/1.1\nHost: a\r\n\r\n", 0},
		{"header block ended by LF LF",
			"GET / HTTP/1.1\r\nHost: a\n\n", 0},
		{"header block ended by CR LF LF",
			"GET / HTTP/1.1\r\nHost: a\r\n\n", 0},
		{"bare CR in a field", // §2.2: MUST be refused or replaced
			"GET / HTTP/1.1\r\nHost: a\rX-Other: b\r\n\r\n", 0},
		{"bare LF in a trailer",
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Sum: 1\n\r\n", 0},
		{"bare LF after one field",
			"GET / HTTP/1.1\r\nHost: a\nX-Other: b\r\n\r\n", 0},
		{"space in header name", // §5.1
			"GET / HTTP/1.1\r\nHost: a\r\nX Smuggled: b\r\n\r\n", 0},
		{"space before colon", // §5.1: MUST reject
			"POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello", 0},
		{"tab before colon",
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n0\r\n\r\n", 0},
		{"unknown transfer coding", // §6.1: 501 or 400; never forwarded
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nhello", 0},
		{"chunked not last",
			"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body, err := tryExchange(addr, tc.request)
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			want := tc.want
			if want == 0 {
				want = 400
			}
			if resp.StatusCode != want {
				t.Errorf("got %d %s, want %d", resp.StatusCode, body, want)
			}
			if n := hits.Swap(0); n != 0 {
				t.Errorf("%d request(s) reached the origin", n)
			}
			if resp.StatusCode >= 400 && !strings.HasPrefix(body, `{"detail":`) {
				t.Errorf("rejection is not JSON: %q", body)
			}
		})
	}
}

// TestBareLineEndingsAfterKeptAliveRequests pipelines well-framed requests
// (bodies full of bare LFs, which are data, not line endings) ahead of one
// whose header block has a bare LF, written in one piece and then a byte
// at a time: the well-framed ones are answered in order, the last gets
// 400 bad_framing at once (not the read timeout's 408), the connection
// closes, and only the well-framed requests reach the origin.
func TestBareLineEndingsAfterKeptAliveRequests(t *testing.T) {
	origin, hits := countingOrigin(t)
	addr := edgeInFrontOf(t, origin)

	good := []string{
		"GET /a HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /b HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\n\n\"a\":\r1\n}\n",
		"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe\nlo\r\n2\r\n\n\n\r\n0\r\nX-Sum: 7\r\n\r\n",
		"\r\nGET /d HTTP/1.1\r\nHost: a\r\n\r\n", // an empty line ahead of the request line is allowed (§2.2)
	}
	for _, tc := range []struct{ name, bad string }{
		{"bare LF ending the request line", "GET /smuggled HTTP/1.1\nHost: a\r\n\r\n"},
		{"header block ended by LF LF", "GET /smuggled HTTP/1.1\r\nHost: a\n\n"},
	} {
		for _, pieces := range []string{"whole", "bytes"} {
			t.Run(tc.name+", "+pieces, func(t *testing.T) {
				hits.Store(0)
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
					t.Fatal(err)
				}
				stream := strings.Join(good, "") + tc.bad
				go func() {
					if pieces == "whole" {
						_, _ = io.WriteString(conn, stream)
						return
					}
					for i := range len(stream) {
						if _, err := conn.Write([]byte{stream[i]}); err != nil {
							return
						}
						if i%16 == 0 {
							time.Sleep(time.Millisecond) // separate reads on the edge's side
						}
					}
				}()
				r := bufio.NewReader(conn)
				for i := range good {
					resp, err := http.ReadResponse(r, nil)
					if err != nil {
						t.Fatalf("response %d: %v", i, err)
					}
					body, _ := io.ReadAll(resp.Body)
					if resp.StatusCode != 200 || string(body) != "origin" {
						t.Fatalf("well-framed request %d got %d %q", i, resp.StatusCode, body)
					}
				}
				resp, err := http.ReadResponse(r, nil)
				if err != nil {
					t.Fatalf("no answer to the bare LF request: %v", err)
				}
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 400 || string(body) != `{"detail":"ambiguous request framing","code":"bad_framing"}` {
					t.Errorf("bare LF request got %d %s, want 400 bad_framing", resp.StatusCode, body)
				}
				// Closed: EOF, or a reset when the client was still writing.
				if _, err := r.ReadByte(); err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("connection still open after the refusal (%v)", err)
				}
				if n := hits.Load(); n != int64(len(good)) {
					t.Errorf("%d requests reached the origin, want the %d well-framed ones", n, len(good))
				}
			})
		}
	}
}
