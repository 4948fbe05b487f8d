package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"edgeshop/proxy/admin"
	"edgeshop/proxy/balance"
	"edgeshop/proxy/server"
)

// startAdmin serves the admin handler over a balancer of originURLs (none
// of them dialled: health checks are not run) and returns its URL and the
// balancer.
func startAdmin(t *testing.T, opt admin.Options, originURLs ...string) (string, *balance.Balancer) {
	t.Helper()
	var targets []balance.Target
	for _, u := range originURLs {
		targets = append(targets, balance.Target{URL: u})
	}
	origins, err := balance.New(targets, balance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(origins.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- server.Serve(ctx, server.New(admin.New(origins, opt).Handle, server.Limits{}, nil), ln, 5*time.Second)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stop admin: %v", err)
		}
	})
	return "http://" + ln.Addr().String(), origins
}

func adminClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

func exchange(t *testing.T, c *http.Client, method, url, auth string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

func TestAdminRoutes(t *testing.T) {
	base, _ := startAdmin(t, admin.Options{}, "http://127.0.0.1:9001", "http://127.0.0.1:9002")
	c := adminClient(t)

	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/healthz", 200, `{"status":"ok"}`},
		{"HEAD", "/healthz", 200, ""},
		{"GET", "/nope", 404, `{"detail":"no such admin route","code":"not_found"}`},
		{"POST", "/healthz", 405, `{"detail":"use GET","code":"method_not_allowed"}`},
		{"POST", "/origins", 405, `{"detail":"use GET","code":"method_not_allowed"}`},
		{"GET", "/origins/reload", 405, `{"detail":"use POST","code":"method_not_allowed"}`},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			status, header, body := exchange(t, c, tc.method, base+tc.path, "")
			if status != tc.status || !bytes.Equal(body, []byte(tc.body)) {
				t.Errorf("got %d %s, want %d %s", status, body, tc.status, tc.body)
			}
			if ct := header.Get("Content-Type"); ct != server.ContentTypeJSON {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

// listed is what a client reads from GET /origins.
type listed struct {
	URL       string   `json:"url"`
	Addr      string   `json:"addr"`
	InFlight  *int     `json:"in_flight"`
	Healthy   *bool    `json:"healthy"`
	Ejected   *bool    `json:"ejected"`
	ErrorRate *float64 `json:"error_rate"`
	Weight    int      `json:"weight"`
}

func decodeOrigins(t *testing.T, body []byte) []listed {
	t.Helper()
	var list []listed
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return list
}

func TestListOrigins(t *testing.T) {
	base, _ := startAdmin(t, admin.Options{}, "http://127.0.0.1:9001", "http://127.0.0.1:9002")
	status, _, body := exchange(t, adminClient(t), "GET", base+"/origins", "")
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	list := decodeOrigins(t, body)
	if len(list) != 2 {
		t.Fatalf("listed %s", body)
	}
	for i, o := range list {
		wantAddr := []string{"127.0.0.1:9001", "127.0.0.1:9002"}[i]
		if o.URL != "http://"+wantAddr || o.Addr != wantAddr {
			t.Errorf("origin %d: url %q addr %q", i, o.URL, o.Addr)
		}
		if o.InFlight == nil || *o.InFlight != 0 || o.Healthy == nil || !*o.Healthy ||
			o.Ejected == nil || *o.Ejected || o.ErrorRate == nil || *o.ErrorRate != 0 {
			t.Errorf("origin %d: state %s", i, body)
		}
	}
}

func TestReloadOrigins(t *testing.T) {
	const token = "reload-token-0123456789"
	next := []balance.Target{{URL: "http://127.0.0.1:9002"}, {URL: "http://127.0.0.1:9003", Weight: 3}}
	var failWith error
	var b *balance.Balancer
	opt := admin.Options{Token: token, Reload: func() error {
		if failWith != nil {
			return failWith
		}
		return b.Update(next)
	}}
	base, origins := startAdmin(t, opt, "http://127.0.0.1:9001", "http://127.0.0.1:9002")
	b = origins
	c := adminClient(t)

	if status, _, body := exchange(t, c, "POST", base+"/origins/reload", ""); status != 401 {
		t.Errorf("without token: %d %s", status, body)
	}
	if status, _, body := exchange(t, c, "POST", base+"/origins/reload", "Bearer wrong"); status != 401 {
		t.Errorf("wrong token: %d %s", status, body)
	}
	failWith = errors.New(`setting --origins / EDGE_ORIGINS: origin "x" is not a URL`)
	status, _, body := exchange(t, c, "POST", base+"/origins/reload", "Bearer "+token)
	if want := `{"detail":"setting --origins / EDGE_ORIGINS: origin \"x\" is not a URL","code":"reload_failed"}`; status != 422 || string(body) != want {
		t.Errorf("failed reload: %d %s", status, body)
	}
	if n := len(b.Origins()); n != 2 {
		t.Errorf("failed reload changed the list: %d origins", n)
	}

	failWith = nil
	kept := b.Origins()[1]
	status, _, body = exchange(t, c, "POST", base+"/origins/reload", "Bearer "+token)
	if status != 200 {
		t.Fatalf("reload: %d %s", status, body)
	}
	list := decodeOrigins(t, body)
	if len(list) != 2 || list[0].URL != "http://127.0.0.1:9002" || list[1].URL != "http://127.0.0.1:9003" || list[1].Weight != 3 {
		t.Errorf("after reload: %s", body)
	}
	if b.Origins()[0] != kept {
		t.Error("an origin that stayed was replaced (its connections dropped)")
	}
}

func TestReloadRefusedWithoutToken(t *testing.T) {
	base, _ := startAdmin(t, admin.Options{Reload: func() error { return nil }}, "http://127.0.0.1:9001")
	status, _, body := exchange(t, adminClient(t), "POST", base+"/origins/reload", "Bearer ")
	if status != 403 {
		t.Errorf("got %d %s, want 403", status, body)
	}
}
