package httpfield

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// serveOnce starts a fasthttp server with h on 127.0.0.1 (NoDefaultDate
// as the edge runs it) and returns the raw response to one GET.
func serveOnce(t *testing.T, noDefaultDate bool, h fasthttp.RequestHandler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fasthttp.Server{Handler: h, NoDefaultDate: noDefaultDate}
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Shutdown() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		b.WriteString(line)
		if err != nil || line == "\r\n" {
			break
		}
	}
	return b.String()
}

func dates(head string) []string {
	var out []string
	for _, l := range strings.Split(head, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "date") {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

const stored = "Mon, 01 Jan 2001 00:00:00 GMT"

func TestSetDateIsSent(t *testing.T) {
	head := serveOnce(t, true, func(ctx *fasthttp.RequestCtx) {
		SetDate(&ctx.Response.Header, []byte(stored))
		ctx.SetBodyString("x")
	})
	if got := dates(head); len(got) != 1 || got[0] != stored {
		t.Fatalf("Date fields %q, want exactly [%s]\n%s", got, stored, head)
	}
	if strings.Contains(strings.ToLower(head), "trailer") {
		t.Fatalf("a Trailer field leaked:\n%s", head)
	}
}

func TestSetDateReplacesAndKeepsTrailers(t *testing.T) {
	head := serveOnce(t, true, func(ctx *fasthttp.RequestCtx) {
		if err := ctx.Response.Header.SetTrailer("X-Checksum"); err != nil {
			t.Error(err)
		}
		SetDate(&ctx.Response.Header, []byte("Tue, 02 Jan 2001 00:00:00 GMT"))
		SetDate(&ctx.Response.Header, []byte(stored))
		ctx.SetBodyString("x")
	})
	if got := dates(head); len(got) != 1 || got[0] != stored {
		t.Fatalf("Date fields %q, want exactly [%s]\n%s", got, stored, head)
	}
	if !strings.Contains(head, "Trailer: X-Checksum") {
		t.Fatalf("the response's own trailer announcement was lost:\n%s", head)
	}
}

func TestResetResponseGetsTheServersDate(t *testing.T) {
	// After Reset fasthttp's default Date is back in force: one Date, now.
	head := serveOnce(t, true, func(ctx *fasthttp.RequestCtx) {
		ctx.Response.Reset()
		SetDate(&ctx.Response.Header, []byte(stored))
	})
	got := dates(head)
	if len(got) != 1 || got[0] == stored {
		t.Fatalf("Date fields %q, want one, the server's own\n%s", got, head)
	}
}

func TestClock(t *testing.T) {
	var c Clock
	t0 := time.Date(2026, 12, 2, 3, 4, 5, 0, time.UTC)
	if got := string(c.Date(t0)); got != "Wed, 02 Dec 2026 03:04:05 GMT" {
		t.Fatalf("Date = %q", got)
	}
	a := c.Date(t0.Add(500 * time.Millisecond))
	if string(a) != "Wed, 02 Dec 2026 03:04:05 GMT" {
		t.Fatalf("same second, Date = %q", a)
	}
	if got := string(c.Date(t0.Add(time.Second))); got != "Wed, 02 Dec 2026 03:04:06 GMT" {
		t.Fatalf("next second, Date = %q", got)
	}
}

func BenchmarkSetDate(b *testing.B) {
	var h fasthttp.ResponseHeader
	v := []byte(stored)
	b.ReportAllocs()
	for b.Loop() {
		SetDate(&h, v)
	}
}
