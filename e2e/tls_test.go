package e2e

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tlsPair is a self-signed certificate for 127.0.0.1 and localhost,
// written as PEM files.
type tlsPair struct {
	certFile, keyFile string
	cert              *x509.Certificate
}

// writePair makes a fresh pair and writes it to certFile and keyFile
// (replacing what they held, as a certificate rotation does).
func writePair(t *testing.T, certFile, keyFile string) tlsPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	// Each file is replaced whole (rename), as deployment tools do.
	for file, b := range map[string][]byte{
		certFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyFile:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	} {
		if err := os.WriteFile(file+".new", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".new", file); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tlsPair{certFile: certFile, keyFile: keyFile, cert: cert}
}

func newPair(t *testing.T) tlsPair {
	dir := t.TempDir()
	return writePair(t, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
}

// tlsEdge is one origin and a proxy with TLS on its public listener.
type tlsEdge struct {
	addr     string // public TLS listener, 127.0.0.1:port
	redirect string // plain redirect listener, if asked for
	proxy    *proc
	roots    *x509.CertPool // trusts the first pair
}

// startTLSEdge starts an origin over a fresh database and the proxy in
// front of it with --tls-cert and --tls-key (plus args), and waits until the
// proxy answers over TLS.
func startTLSEdge(t *testing.T, p tlsPair, env []string, args ...string) *tlsEdge {
	t.Helper()
	bin := binaries(t)
	originAddr, adminAddr := freeAddr(t), freeAddr(t)
	base := []string{"ORIGIN_BCRYPT_COST=4", "ORIGIN_DRAIN_DELAY=0s", "EDGE_ADMIN_TOKEN=e2e-admin-token-0123456789",
		"OTEL_SDK_DISABLED=true", "EDGE_RATELIMIT=false", "ORIGIN_EDGE_PURGE_URLS=http://" + adminAddr}
	start(t, "origin", base, filepath.Join(bin, "origin"),
		"--listen", originAddr, "--db", filepath.Join(t.TempDir(), "shop.db"), "--seed-products", "50")
	waitFor(t, "http://"+originAddr+"/readyz")

	e := &tlsEdge{addr: freeAddr(t), roots: x509.NewCertPool()}
	e.roots.AddCert(p.cert)
	proxyArgs := []string{"--listen", e.addr, "--admin-listen", adminAddr, "--origins", "http://" + originAddr,
		"--tls-cert", p.certFile, "--tls-key", p.keyFile}
	for i := 0; i+1 < len(args); i += 2 {
		if args[i] == "--redirect-http" {
			e.redirect = args[i+1]
		}
	}
	e.proxy = start(t, "proxy", append(base, env...), filepath.Join(bin, "proxy"), append(proxyArgs, args...)...)
	waitFor(t, "http://"+adminAddr+"/healthz")
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := e.dial(&tls.Config{})
		if err == nil {
			conn.Close()
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy TLS listener not ready: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// dial opens a TLS connection to the proxy; cfg's roots and server name
// are filled in unless set.
func (e *tlsEdge) dial(cfg *tls.Config) (*tls.Conn, error) {
	if cfg.RootCAs == nil && !cfg.InsecureSkipVerify {
		cfg.RootCAs = e.roots
	}
	if cfg.ServerName == "" {
		cfg.ServerName = "127.0.0.1"
	}
	return tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", e.addr, cfg)
}

// client returns an HTTPS client that trusts roots and makes a new
// connection for each request (so each sees the certificate served now).
func (e *tlsEdge) client(roots *x509.CertPool) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// roundTrip sends one request on conn (kept alive) and reads the answer.
func roundTrip(t *testing.T, conn net.Conn, br *bufio.Reader, path string) *http.Response {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path); err != nil {
		t.Fatalf("write on kept-alive connection: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("read on kept-alive connection: %v", err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func TestTLSHandshakeVersions(t *testing.T) {
	e := startTLSEdge(t, newPair(t), nil)
	for _, tc := range []struct {
		name     string
		min, max uint16
		ok       bool
	}{
		{"TLS 1.3", tls.VersionTLS13, tls.VersionTLS13, true},
		{"TLS 1.2", tls.VersionTLS12, tls.VersionTLS12, true},
		{"TLS 1.1", tls.VersionTLS11, tls.VersionTLS11, false},
		{"TLS 1.0", tls.VersionTLS10, tls.VersionTLS10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := e.dial(&tls.Config{MinVersion: tc.min, MaxVersion: tc.max})
			if !tc.ok {
				if err == nil {
					conn.Close()
					t.Fatalf("%s handshake accepted", tc.name)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s handshake: %v", tc.name, err)
			}
			defer conn.Close()
			if v := conn.ConnectionState().Version; v != tc.min {
				t.Fatalf("negotiated %s", tls.VersionName(v))
			}
			if resp := roundTrip(t, conn, bufio.NewReader(conn), "/healthz"); resp.StatusCode != 200 {
				t.Fatalf("GET /healthz over %s: %d", tc.name, resp.StatusCode)
			}
		})
	}
	// TLS 1.2 with a suite that is not ECDHE + AEAD.
	conn, err := e.dial(&tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}})
	if err == nil {
		conn.Close()
		t.Fatal("CBC suite accepted")
	}
}

func TestTLSCertificateReloadOnHangup(t *testing.T) {
	first := newPair(t)
	e := startTLSEdge(t, first, nil)
	insecure := func() *tls.Config { return &tls.Config{InsecureSkipVerify: true} } // compares certificates itself
	served := func() *x509.Certificate {
		t.Helper()
		conn, err := e.dial(insecure())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0]
	}

	// A kept-alive connection made with the first certificate.
	old, err := e.dial(&tls.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldReader := bufio.NewReader(old)
	if resp := roundTrip(t, old, oldReader, "/api/products/?page=1"); resp.StatusCode != 200 {
		t.Fatalf("before rotation: %d", resp.StatusCode)
	}

	second := writePair(t, first.certFile, first.keyFile) // rotated on disk
	if !served().Equal(first.cert) {
		t.Fatal("new certificate served before SIGHUP")
	}
	if err := e.proxy.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitServed(t, served, second.cert)
	// New connections verify against the new certificate only.
	roots := x509.NewCertPool()
	roots.AddCert(second.cert)
	resp, err := e.client(roots).Get("https://" + e.addr + "/api/products/?page=1")
	if err != nil {
		t.Fatalf("new connection with the rotated certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after rotation: %d", resp.StatusCode)
	}
	// The connection made before the rotation still carries requests.
	if resp := roundTrip(t, old, oldReader, "/api/products/?page=2"); resp.StatusCode != 200 {
		t.Fatalf("kept-alive connection after rotation: %d", resp.StatusCode)
	}
	if old.ConnectionState().PeerCertificates[0].Equal(second.cert) {
		t.Fatal("old connection changed certificate")
	}

	// A broken key on disk: SIGHUP logs an error and keeps the second pair.
	if err := os.WriteFile(first.keyFile, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.proxy.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(e.proxy.out.String(), "TLS reload on SIGHUP failed") {
		if time.Now().After(deadline) {
			t.Fatal("no error logged for a failed certificate reload")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !served().Equal(second.cert) {
		t.Fatal("a failed reload changed the certificate")
	}
	if resp := roundTrip(t, old, oldReader, "/healthz"); resp.StatusCode != 200 {
		t.Fatalf("kept-alive connection after a failed reload: %d", resp.StatusCode)
	}
}

// waitServed waits until new connections get want (SIGHUP is handled
// asynchronously).
func waitServed(t *testing.T, served func() *x509.Certificate, want *x509.Certificate) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !served().Equal(want) {
		if time.Now().After(deadline) {
			t.Fatal("rotated certificate not served after SIGHUP")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTLSBadPairStopsProxy: the proxy refuses to start, with one line on
// stderr naming the setting, and a non-zero exit.
func TestTLSBadPairStopsProxy(t *testing.T) {
	bin := binaries(t)
	good, other := newPair(t), newPair(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("-----BEGIN NOTHING-----\nxx\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"bad key file", []string{"--tls-cert", good.certFile, "--tls-key", garbage}, nil,
			"proxy: setting --tls-key / EDGE_TLS_KEY: " + garbage + " holds no PEM private key"},
		{"mismatched pair (environment)", nil, []string{"EDGE_TLS_CERT=" + good.certFile, "EDGE_TLS_KEY=" + other.keyFile},
			"proxy: setting --tls-cert / EDGE_TLS_CERT: certificate " + good.certFile + " and key " + other.keyFile + ": tls: private key does not match public key"},
		{"missing certificate", []string{"--tls-cert", missing, "--tls-key", good.keyFile}, nil,
			"proxy: setting --tls-cert / EDGE_TLS_CERT: read certificate: open " + missing + ": no such file or directory"},
		{"missing key", []string{"--tls-cert", good.certFile, "--tls-key", missing}, nil,
			"proxy: setting --tls-key / EDGE_TLS_KEY: open " + missing + ": no such file or directory"},
		{"certificate alone", []string{"--tls-cert", good.certFile}, nil,
			"proxy: setting --tls-key / EDGE_TLS_KEY: missing: --tls-cert needs its key"},
		{"redirect without TLS", []string{"--redirect-http", "127.0.0.1:1"}, nil,
			"proxy: setting --redirect-http / EDGE_REDIRECT_HTTP: needs TLS on the public listener (--tls-cert and --tls-key)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			args := append([]string{"--listen", freeAddr(t), "--admin-listen", freeAddr(t)}, tc.args...)
			cmd := exec.CommandContext(ctx, filepath.Join(bin, "proxy"), args...)
			cmd.Env = append(os.Environ(), append([]string{"OTEL_SDK_DISABLED=true"}, tc.env...)...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() <= 0 {
				t.Fatalf("proxy did not exit with an error: %v\nstderr: %s", err, stderr.String())
			}
			if got := stderr.String(); got != tc.want+"\n" {
				t.Fatalf("stderr\n got %q\nwant %q", got, tc.want+"\n")
			}
		})
	}
}

// TestTLSForwardedProtoAndHSTS: requests over TLS reach the origin with
// X-Forwarded-Proto: https (the origin builds its page links from it),
// whatever the client sent; responses, cached or not, carry HSTS.
func TestTLSForwardedProtoAndHSTS(t *testing.T) {
	p := newPair(t)
	e := startTLSEdge(t, p, nil)
	c := &client{t: t, base: "https://" + e.addr, http: e.client(e.roots)}

	// Distinct queries: each is a cache miss that reaches the origin.
	miss := c.must(200, "GET", "/api/products/?page=1&v=1", nil)
	spoofed := c.must(200, "GET", "/api/products/?page=1&v=2", nil, "X-Forwarded-Proto", "http")
	for name, r := range map[string]result{"plain": miss, "client says http": spoofed} {
		var page struct{ Next string }
		r.JSON(t, &page)
		if !strings.HasPrefix(page.Next, "https://"+e.addr+"/") {
			t.Errorf("%s: origin built next link %q: X-Forwarded-Proto was not https", name, page.Next)
		}
		if got := r.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
			t.Errorf("%s: Strict-Transport-Security %q", name, got)
		}
	}
	hit := c.must(200, "GET", "/api/products/?page=1&v=1", nil)
	if cs := hit.Header.Get("Cache-Status"); !strings.Contains(cs, "hit") {
		t.Fatalf("second request not a hit: %q", cs)
	}
	if got := hit.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
		t.Errorf("cache hit: Strict-Transport-Security %q", got)
	}

	// --hsts sets the value; empty turns it off.
	for _, tc := range []struct{ env, want string }{
		{"EDGE_HSTS=max-age=600; includeSubDomains", "max-age=600; includeSubDomains"},
		{"EDGE_HSTS=", ""},
	} {
		e := startTLSEdge(t, p, []string{tc.env})
		c := &client{t: t, base: "https://" + e.addr, http: e.client(e.roots)}
		r := c.must(200, "GET", "/api/products/?page=1", nil)
		if got, ok := r.Header["Strict-Transport-Security"]; tc.want == "" && ok || tc.want != "" && (len(got) != 1 || got[0] != tc.want) {
			t.Errorf("%s: Strict-Transport-Security %q", tc.env, got)
		}
	}
}

func TestTLSRedirectListener(t *testing.T) {
	redirect := freeAddr(t)
	e := startTLSEdge(t, newPair(t), nil, "--redirect-http", redirect)
	plain := &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	_, port, _ := net.SplitHostPort(e.addr)
	for _, tc := range []struct {
		method, host, path string
		status             int
		location           string
	}{
		{"GET", "", "/api/products/?page=2&x=%2F", 308, "https://127.0.0.1:" + port + "/api/products/?page=2&x=%2F"},
		{"HEAD", "shop.example:80", "/", 308, "https://shop.example:" + port + "/"},
		{"POST", "localhost", "/api/order/create/", 308, "https://localhost:" + port + "/api/order/create/"},
		{"GET", "evil.example/x", "/", 400, ""},
	} {
		req, err := http.NewRequest(tc.method, "http://"+redirect+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.host != "" {
			req.Host = tc.host
		}
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location {
			t.Errorf("%s %s Host %q: %d Location %q, want %d %q", tc.method, tc.path, tc.host, resp.StatusCode,
				resp.Header.Get("Location"), tc.status, tc.location)
		}
		if resp.Header.Get("Strict-Transport-Security") != "" {
			t.Error("HSTS over plain HTTP")
		}
	}
	// The Location leads to the TLS listener.
	resp, err := e.client(e.roots).Get("https://127.0.0.1:" + port + "/api/products/?page=2")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("following the redirect: %d", resp.StatusCode)
	}
}
