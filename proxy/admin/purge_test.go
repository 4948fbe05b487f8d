package admin_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"edgeshop/proxy/admin"
	"edgeshop/proxy/server"
)

// recorder is the purge sink: it records what it was asked to drop.
type recorder struct {
	mu         sync.Mutex
	keys, urls []string
}

func (r *recorder) PurgeKeys(keys ...string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keys = append(r.keys, keys...)
	return len(keys)
}

func (r *recorder) PurgeURLs(urls ...string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.urls = append(r.urls, urls...)
	return len(urls)
}

func startPurgeAdmin(t *testing.T, opt admin.Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- server.Serve(ctx, server.New(admin.New(nil, opt).Handle, server.Limits{}, nil), ln, 5*time.Second)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return "http://" + ln.Addr().String()
}

func post(t *testing.T, url, auth, ctype, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPurge(t *testing.T) {
	rec := &recorder{}
	base := startPurgeAdmin(t, admin.Options{Purger: rec, Token: "s3cret"})
	long := strings.Repeat("k", 2049)
	for _, tc := range []struct {
		name, auth, ctype, body string
		status                  int
		contains                string
	}{
		{"keys", "Bearer s3cret", "application/json", `{"keys":["product-1","products"]}`, 200, `"purged_keys":2`},
		{"urls", "Bearer s3cret", "application/json; charset=utf-8", `{"urls":["http://shop/api/products/1/"]}`, 200, `"purged_urls":1`},
		{"no token", "", "application/json", `{"keys":["x"]}`, 401, "unauthorized"},
		{"wrong token", "Bearer nope", "application/json", `{"keys":["x"]}`, 401, "unauthorized"},
		{"token without scheme", "s3cret", "application/json", `{"keys":["x"]}`, 401, "unauthorized"},
		{"not json", "Bearer s3cret", "text/plain", `{"keys":["x"]}`, 415, "unsupported_media_type"},
		{"malformed", "Bearer s3cret", "application/json", `{"keys":[`, 400, "invalid_json"},
		{"wrong type", "Bearer s3cret", "application/json", `{"keys":"x"}`, 400, "invalid_json"},
		{"empty", "Bearer s3cret", "application/json", `{}`, 400, "invalid_json"},
		{"empty key", "Bearer s3cret", "application/json", `{"keys":[""]}`, 400, "invalid_json"},
		{"key too long", "Bearer s3cret", "application/json", `{"keys":["` + long + `"]}`, 413, "too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, base+"/purge", tc.auth, tc.ctype, tc.body)
			if status != tc.status || !strings.Contains(body, tc.contains) {
				t.Fatalf("status %d body %s; want %d containing %q", status, body, tc.status, tc.contains)
			}
		})
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if strings.Join(rec.keys, ",") != "product-1,products" || strings.Join(rec.urls, ",") != "http://shop/api/products/1/" {
		t.Fatalf("purged keys %v urls %v: refused requests must purge nothing", rec.keys, rec.urls)
	}
}

func TestPurgeRefusedWithoutToken(t *testing.T) {
	rec := &recorder{}
	base := startPurgeAdmin(t, admin.Options{Purger: rec})
	for _, auth := range []string{"", "Bearer ", "Bearer x"} {
		if status, body := post(t, base+"/purge", auth, "application/json", `{"keys":["x"]}`); status != 403 || !strings.Contains(body, "purge_disabled") {
			t.Fatalf("auth %q: %d %s", auth, status, body)
		}
	}
	if len(rec.keys) != 0 {
		t.Fatal("purged without a configured token")
	}
	resp, err := http.Get(base + "/purge")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Fatalf("GET /purge: %d", resp.StatusCode)
	}
}
