package cache_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"
)

// A fresh hit's body goes out from the cache's own working copy, which
// returns to the pool only once the response is written. Many clients at
// once, some pipelining, each asking for URLs whose bodies differ in
// length and content: every answer must be exactly its URL's body. (With
// the copy returned before the write, another request's lookup overwrote
// bodies still being sent.)
func TestHitBodiesStayWholeUnderConcurrency(t *testing.T) {
	const urls = 12
	body := func(i int) []byte {
		n := 1500 + i*2731 // 1.5 KB to 31 KB
		return bytes.Repeat([]byte{byte('a' + i)}, n)
	}
	o := startOrigin(t, func(ctx *fasthttp.RequestCtx) {
		i, _ := strconv.Atoi(strings.TrimPrefix(string(ctx.Path()), "/p/"))
		ctx.Response.Header.Set("Cache-Control", "max-age=600")
		ctx.SetBody(body(i))
	})
	e := startEdge(t, o, edgeOptions{})
	for i := range urls {
		e.get(t, fmt.Sprintf("/p/%d", i))
	}
	wantRequests(t, o, urls)
	addr := strings.TrimPrefix(e.url, "http://")

	const clients, rounds, depth = 8, 40, 6
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- pipelined(addr, c, rounds, depth, urls, body)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	wantRequests(t, o, urls) // every answer above was a hit
}

// pipelined sends rounds batches of depth requests on one connection, each
// batch written at once, then checks each answer's status and body.
func pipelined(addr string, client, rounds, depth, urls int, body func(int) []byte) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for r := range rounds {
		var batch bytes.Buffer
		want := make([]int, depth)
		for k := range depth {
			want[k] = (client*7 + r*3 + k*5) % urls
			fmt.Fprintf(&batch, "GET /p/%d HTTP/1.1\r\nHost: %s\r\n\r\n", want[k], addr)
		}
		if _, err := conn.Write(batch.Bytes()); err != nil {
			return err
		}
		for _, i := range want {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				return err
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			if resp.StatusCode != 200 || !bytes.Equal(got, body(i)) {
				return fmt.Errorf("client %d round %d: /p/%d answered %d with %d bytes starting %q, want %d bytes of %q",
					client, r, i, resp.StatusCode, len(got), got[:min(len(got), 8)], len(body(i)), body(i)[:1])
			}
		}
	}
	return nil
}
