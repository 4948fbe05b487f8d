package purge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// edge is a real HTTP server standing in for an edge's admin listener: it
// records the keys of each authorised purge and can fail the first calls.
type edge struct {
	mu       sync.Mutex
	keys     [][]string
	failNext int
	conns    atomic.Int64 // connections the sender opened
	srv      *httptest.Server
}

func newEdge(t *testing.T, token string) *edge {
	e := &edge{}
	e.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/purge" || r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.failNext > 0 {
			e.failNext--
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		var body struct{ Keys []string }
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		e.keys = append(e.keys, body.Keys)
		// Answer as the proxy's admin listener does: a JSON body.
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"purged_keys":%d,"purged_urls":0}`, len(body.Keys))
	}))
	e.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			e.conns.Add(1)
		}
	}
	e.srv.Start()
	t.Cleanup(e.srv.Close)
	return e
}

func (e *edge) received() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var all []string
	for _, k := range e.keys {
		all = append(all, k...)
	}
	sort.Strings(all)
	return all
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestPurgeReachesEveryEdgeWithToken(t *testing.T) {
	a, b := newEdge(t, "tok"), newEdge(t, "tok")
	s, err := New([]string{a.srv.URL, b.srv.URL + "/"}, "tok", Options{Batch: time.Millisecond}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	s.Purge("product-1", "products")
	s.Purge("products", "category-2")
	for _, e := range []*edge{a, b} {
		waitFor(t, func() bool { return len(e.received()) >= 3 })
	}
	cancel()
	<-done // Run returns when its context ends
	// Both calls fit one batch window or two; each key arrives, and a key
	// named twice in one batch is sent once.
	for _, e := range []*edge{a, b} {
		got := map[string]int{}
		for _, k := range e.received() {
			got[k]++
		}
		if got["category-2"] != 1 || got["product-1"] != 1 || got["products"] < 1 || got["products"] > 2 {
			t.Fatalf("edge got %v", e.received())
		}
	}
}

// Batches reuse one keep-alive connection to an edge: the sender reads each
// answer's body before closing it, or net/http would dial again per batch
// (under the shop mix, an origin sends a batch every 20 ms).
func TestPurgeBatchesReuseTheConnection(t *testing.T) {
	e := newEdge(t, "tok")
	s, _ := New([]string{e.srv.URL}, "tok", Options{Batch: time.Millisecond}, quiet())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	for i := 1; i <= 5; i++ {
		s.Purge(fmt.Sprintf("product-%d", i))
		waitFor(t, func() bool { sent, _, _ := s.Stats(); return sent == int64(i) })
	}
	if got := len(e.received()); got != 5 {
		t.Fatalf("edge received %d keys, want 5", got)
	}
	if n := e.conns.Load(); n != 1 {
		t.Fatalf("5 batches opened %d connections, want 1", n)
	}
}

func TestPurgeRetriesAFailingEdge(t *testing.T) {
	e := newEdge(t, "tok")
	e.failNext = 2
	s, _ := New([]string{e.srv.URL}, "tok", Options{Batch: time.Millisecond, Backoff: time.Millisecond}, quiet())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	s.Purge("product-9")
	// The edge records the keys before it answers, so wait for the sender
	// to count the answer too, not just for the edge to see the request.
	waitFor(t, func() bool { sent, _, _ := s.Stats(); return sent == 1 })
	if sent, failed, _ := s.Stats(); sent != 1 || failed != 0 || len(e.received()) != 1 {
		t.Fatalf("sent %d failed %d received %v", sent, failed, e.received())
	}
}

func TestPurgeGivesUpAfterAttempts(t *testing.T) {
	e := newEdge(t, "other-token") // refuses ours: 403 every time
	s, _ := New([]string{e.srv.URL}, "tok", Options{Batch: time.Millisecond, Backoff: time.Millisecond, Attempts: 3}, quiet())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx)
	s.Purge("product-9")
	waitFor(t, func() bool { _, failed, _ := s.Stats(); return failed == 1 })
	if len(e.received()) != 0 {
		t.Fatal("refused purge recorded")
	}
}

func TestPurgeNeverBlocksWhenQueueIsFull(t *testing.T) {
	e := newEdge(t, "tok")
	s, _ := New([]string{e.srv.URL}, "tok", Options{Queue: 2}, quiet())
	// Not running: the queue fills, then purges are dropped, not blocked.
	done := make(chan struct{})
	go func() {
		for i := 0; i < 10; i++ {
			s.Purge("k")
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Purge blocked on a full queue")
	}
	if _, _, dropped := s.Stats(); dropped != 8 {
		t.Fatalf("dropped %d, want 8", dropped)
	}
}

func TestEdgeURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8081":         "http://127.0.0.1:8081/purge",
		"http://127.0.0.1:8081/":        "http://127.0.0.1:8081/purge",
		"http://127.0.0.1:8081/purge":   "http://127.0.0.1:8081/purge",
		"https://edge.internal/x/purge": "https://edge.internal/x/purge",
	} {
		if got, err := EdgeURL(in); err != nil || got != want {
			t.Errorf("EdgeURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:8081", "ftp://x", "http://"} {
		if _, err := EdgeURL(bad); err == nil {
			t.Errorf("EdgeURL(%q) accepted", bad)
		}
	}
}
