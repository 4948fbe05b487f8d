package admin_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"edgeshop/proxy/admin"
	"edgeshop/proxy/server"
	"edgeshop/proxy/upstream"
)

func startAdmin(t *testing.T, originURLs ...string) string {
	t.Helper()
	var origins []*upstream.Origin
	for _, u := range originURLs {
		o, err := upstream.New(u, upstream.Options{})
		if err != nil {
			t.Fatal(err)
		}
		origins = append(origins, o)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- server.Serve(ctx, server.New(admin.New(origins, admin.Options{}).Handle, server.Limits{}, nil), ln, 5*time.Second)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stop admin: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func TestAdminRoutes(t *testing.T) {
	base := startAdmin(t, "http://127.0.0.1:9001", "http://127.0.0.1:9002")
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}

	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/healthz", 200, `{"status":"ok"}`},
		{"GET", "/origins", 200, `[{"url":"http://127.0.0.1:9001","addr":"127.0.0.1:9001","in_flight":0},` +
			`{"url":"http://127.0.0.1:9002","addr":"127.0.0.1:9002","in_flight":0}]`},
		{"HEAD", "/healthz", 200, ""},
		{"GET", "/nope", 404, `{"detail":"no such admin route","code":"not_found"}`},
		{"POST", "/healthz", 405, `{"detail":"use GET","code":"method_not_allowed"}`},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, base+tc.path, nil)
			if err != nil {
				t.Fatal(err)
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
			if resp.StatusCode != tc.status || !bytes.Equal(body, []byte(tc.body)) {
				t.Errorf("got %d %s, want %d %s", resp.StatusCode, body, tc.status, tc.body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != server.ContentTypeJSON {
				t.Errorf("Content-Type %q", ct)
			}
			if tc.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", resp.Header.Get("Allow"))
			}
		})
	}
}
