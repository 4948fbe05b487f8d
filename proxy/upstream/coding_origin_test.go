package upstream_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"edgeshop/proxy/upstream"
)

// rawOrigin answers every request on 127.0.0.1 with the bytes reply
// returns for it (the request's first line), then closes the connection
// if it says so. It stops when the test ends.
func rawOrigin(t *testing.T, reply func(first string) (raw string, hangUp bool)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				r := bufio.NewReader(c)
				for {
					first, err := r.ReadString('\n')
					if err != nil {
						return
					}
					for { // skip the rest of the request head (no bodies here)
						l, err := r.ReadString('\n')
						if err != nil || l == "\r\n" {
							break
						}
					}
					raw, hangUp := reply(strings.TrimSpace(first))
					if _, err := c.Write([]byte(raw)); err != nil || hangUp {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); <-done })
	return "http://" + ln.Addr().String()
}

// TestUnknownTransferCodingIsReadUntilClose: an origin's response with a
// transfer coding other than chunked is delimited by the connection
// closing (RFC 9112 §6.3); fasthttp alone refuses it, and the edge would
// have answered 502.
func TestUnknownTransferCodingIsReadUntilClose(t *testing.T) {
	url := rawOrigin(t, func(first string) (string, bool) {
		switch {
		case strings.HasPrefix(first, "GET /coded "):
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: x-custom\r\nContent-Length: 3\r\nCache-Control: max-age=60\r\n\r\nbody sent until close", true
		case strings.HasPrefix(first, "GET /hints "):
			return "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" +
				"HTTP/1.1 200 OK\r\nTransfer-Encoding: foo\r\n\r\nafter hints", true
		default:
			return "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nkept", false
		}
	})
	o := newOrigin(t, url, upstream.Options{Timeout: 5 * time.Second})
	for _, tc := range []struct{ path, body string }{
		{"/plain", "kept"},
		{"/coded", "body sent until close"},
		{"/plain", "kept"},
		{"/hints", "after hints"},
		{"/plain", "kept"},
	} {
		req := parseRequest(t, "GET "+tc.path+" HTTP/1.1\r\nHost: shop.example\r\n\r\n")
		var resp fasthttp.Response
		if err := o.Do(req, &resp); err != nil {
			t.Fatalf("GET %s: %v", tc.path, err)
		}
		if resp.StatusCode() != 200 || string(resp.Body()) != tc.body {
			t.Fatalf("GET %s: %d %q, want 200 %q", tc.path, resp.StatusCode(), resp.Body(), tc.body)
		}
		if te := resp.Header.Peek("Transfer-Encoding"); len(te) > 0 {
			t.Errorf("GET %s: Transfer-Encoding %q passed on", tc.path, te)
		}
		if tc.path == "/coded" && string(resp.Header.Peek("Cache-Control")) != "max-age=60" {
			t.Errorf("GET /coded: lost its other fields:\n%s", resp.Header.String())
		}
	}
}

// TestHeadSplitAcrossReads: a header section that arrives in pieces is
// still read whole before it is judged.
func TestHeadSplitAcrossReads(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		for {
			l, err := r.ReadString('\n')
			if err != nil || l == "\r\n" {
				break
			}
		}
		for _, part := range []string{"HTTP/1.1 200 OK\r\nTransfer-En", "coding: foo\r", "\n\r", "\nslow body"} {
			_, _ = c.Write([]byte(part))
			time.Sleep(20 * time.Millisecond)
		}
	}()
	o := newOrigin(t, "http://"+ln.Addr().String(), upstream.Options{Timeout: 5 * time.Second})
	var resp fasthttp.Response
	if err := o.Do(parseRequest(t, "GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n"), &resp); err != nil {
		t.Fatal(err)
	}
	if string(resp.Body()) != "slow body" {
		t.Fatalf("body %q", resp.Body())
	}
}
